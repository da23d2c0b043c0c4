"""The demo corpus: short English documents over eight clearly different
themes, written by the project itself (no download), so that `spacy project
run all` works offline on a fresh machine.

Every document is 2 to 5 sentences drawn from hand-written sentence templates
of one theme, with slots filled from that theme's word lists by a seeded RNG;
about one document in four also carries a theme-neutral sentence, so that not
every word is a giveaway. The same seed always gives the same file.
"""
import json
import random
import re
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Union

# Slots shared by all themes.
COMMON: Dict[str, List[str]] = {
    "name": [
        "Maria", "James", "Aisha", "Tom", "Elena", "Kenji", "Sarah", "David", "Priya",
        "Lukas", "Grace", "Omar", "Hannah", "Carlos", "Mei", "Peter", "Fatima", "Jonas",
    ],
    "time": [
        "last week", "on Monday", "this morning", "over the weekend", "last month",
        "on Friday evening", "earlier this year", "yesterday", "last spring", "in the autumn",
    ],
    "duration": ["the weekend", "the whole afternoon", "a week", "two days", "most of the morning"],
    "month": ["January", "March", "April", "June", "July", "September", "October", "December"],
    "number": ["two", "three", "four", "five", "six", "seven", "ten", "twelve", "twenty"],
    "city": ["Lisbon", "Chicago", "Manchester", "Osaka", "Toronto", "Munich", "Melbourne", "Denver", "Lyon"],
}

# Theme-neutral sentences, mixed into some documents of every theme.
GENERIC: List[str] = [
    "Not everyone agreed, but most people thought it was a fair result.",
    "{name} said it had been a long and tiring day.",
    "The details will be announced {time}.",
    "More information is available from the organisers.",
    "It was the first time in {number} years that this had happened.",
    "Local reporters in {city} followed the story closely.",
    "Several readers wrote in to share their own experiences.",
    "Nobody expected things to change so quickly.",
]

THEMES: Dict[str, Dict[str, List[str]]] = {
    "space": {
        "templates": [
            "The space agency launched a new {craft} toward {body} {time}.",
            "Astronomers using the {telescope} spotted a faint {object} beyond the orbit of {planet}.",
            "The astronauts aboard the space station spent {duration} repairing a {part} on the {craft}.",
            "A bright comet will pass close to Earth in {month}, and it should be visible with binoculars.",
            "Engineers delayed the rocket launch because of {delay}.",
            "The probe sent back sharp images of craters and dust storms on {planet}.",
            "{name}, an astronaut with {number} missions behind her, said the view of Earth from orbit was breathtaking.",
            "Scientists believe the galaxy contains billions of stars and many planets like our own.",
            "The {telescope} measured the light of a distant {object} for the first time.",
            "After a long journey through the solar system, the {craft} finally reached orbit around {body}.",
            "The rocket lifted off from the launch pad and climbed into a clear sky.",
            "Researchers think the {object} formed from gas and dust billions of years ago.",
            "The lander touched down safely near the edge of a crater on {body}.",
            "Mission control confirmed that the {craft} had entered a stable orbit.",
            "Amateur astronomers gathered in {city} to watch the eclipse of the moon.",
            "The crew will test a new {part} before the next spacewalk.",
        ],
        "craft": ["probe", "satellite", "spacecraft", "lander", "rover", "capsule", "orbiter"],
        "body": ["Mars", "the Moon", "Jupiter", "Saturn", "Venus", "an asteroid", "a comet", "Mercury"],
        "planet": ["Neptune", "Jupiter", "Saturn", "Mars", "Uranus"],
        "telescope": ["space telescope", "radio telescope", "new observatory", "infrared telescope"],
        "object": ["galaxy", "nebula", "exoplanet", "star cluster", "asteroid", "comet", "black hole", "supernova"],
        "part": ["solar panel", "antenna", "heat shield", "thruster", "docking port", "radiation sensor"],
        "delay": ["strong winds", "a fuel leak", "a faulty sensor", "a problem with the engine", "thunderstorms near the launch pad"],
    },
    "cooking": {
        "templates": [
            "Heat the olive oil in a pan and fry the {vegetable} until soft.",
            "This {dish} tastes best with fresh {herb} and a pinch of salt.",
            "{name} baked a {baked} for the family and served it warm from the oven.",
            "Stir the {sauce} slowly so that it does not burn at the bottom of the pot.",
            "The recipe calls for {number} cloves of garlic, a cup of {liquid} and some grated cheese.",
            "Season the {meat} with pepper and roast it in the oven for an hour.",
            "Our favourite {dish} comes from a small restaurant in {city}.",
            "Chop the {vegetable} finely, then add it to the simmering {sauce}.",
            "The chef tasted the soup and added more {herb} and a little butter.",
            "Whisk the eggs with flour and milk to make a smooth batter.",
            "Let the dough rest for an hour before you bake the {baked}.",
            "A good {dish} needs patience, a sharp knife and fresh ingredients.",
            "Serve the {meat} with rice, roasted {vegetable} and a spoonful of {sauce}.",
            "The kitchen smelled of garlic, onions and freshly baked bread.",
            "Simmer the beans in {liquid} until they are tender, then season to taste.",
            "For dessert she made a {baked} with sugar, cinnamon and sliced apples.",
        ],
        "vegetable": ["onions", "mushrooms", "peppers", "carrots", "spinach", "tomatoes", "courgettes", "potatoes"],
        "dish": ["curry", "risotto", "stew", "lasagne", "omelette", "soup", "pasta", "salad"],
        "herb": ["basil", "parsley", "thyme", "coriander", "rosemary", "oregano", "mint"],
        "baked": ["loaf of bread", "cake", "pie", "tart", "batch of cookies", "pizza", "cheesecake"],
        "sauce": ["tomato sauce", "gravy", "cream sauce", "curry sauce", "broth", "custard"],
        "liquid": ["stock", "cream", "milk", "white wine", "coconut milk", "water"],
        "meat": ["chicken", "lamb", "beef", "pork", "salmon", "fish"],
    },
    "football": {
        "templates": [
            "The {team} won the match {score} after a late goal from their {position}.",
            "The coach was furious after the referee awarded a penalty in the final minute.",
            "{name} scored twice in the first half, and the fans sang for the rest of the game.",
            "The {team} have not lost a league game at home since {month}.",
            "The goalkeeper made a brilliant save to keep the score level at half time.",
            "After the defeat, the manager said his players needed to defend better.",
            "The striker hit the post twice before finally scoring from a corner.",
            "Thousands of supporters travelled to {city} for the cup final.",
            "The {team} signed a young {position} for a record transfer fee.",
            "A red card for the captain left the team with ten players for the second half.",
            "The match ended {score}, and the {team} moved to the top of the league table.",
            "The midfielder passed the ball forward, and the winger crossed it into the box.",
            "Training was cancelled {time} because the pitch was frozen.",
            "The referee showed {number} yellow cards in a bad tempered derby.",
            "The {team} need a win in their last game to avoid relegation.",
            "The stadium was sold out long before kick off.",
        ],
        "team": ["home side", "visitors", "champions", "league leaders", "city club", "national team", "underdogs"],
        "score": ["two nil", "three one", "one nil", "two all", "four two", "three nil"],
        "position": ["striker", "midfielder", "defender", "winger", "captain", "substitute"],
    },
    "finance": {
        "templates": [
            "Shares in the {company} fell {number} percent after its quarterly earnings disappointed investors.",
            "The central bank raised interest rates to fight inflation.",
            "Analysts expect the {market} to remain volatile until the end of the year.",
            "{name} moved most of her savings into a {fund} with low fees.",
            "The {company} reported record profits and raised its dividend.",
            "Investors sold government bonds as yields climbed to their highest level in a decade.",
            "A weaker currency makes exports cheaper but raises the price of imported goods.",
            "The stock market rallied {time} after better than expected jobs figures.",
            "Mortgage rates have doubled, and many buyers can no longer afford a house.",
            "The {company} plans to cut costs and borrow money to pay its debts.",
            "Economists warned that high inflation could push the economy into recession.",
            "Trading on the {market} was suspended briefly after prices dropped sharply.",
            "Banks tightened lending rules, making loans harder to get for small businesses.",
            "A diversified portfolio of stocks and bonds reduces the risk for investors.",
            "The pension {fund} lost money on its property investments last quarter.",
            "Tax revenues rose, but the government budget deficit is still growing.",
        ],
        "company": ["bank", "insurer", "retailer", "airline", "carmaker", "mining company", "investment firm"],
        "market": ["stock market", "bond market", "currency market", "housing market", "oil market"],
        "fund": ["index fund", "pension fund", "savings account", "bond fund", "investment fund"],
    },
    "medicine": {
        "templates": [
            "The doctor prescribed {drug} for the infection and told the patient to rest.",
            "Patients with {condition} should check their blood pressure regularly.",
            "A new clinical trial will test whether the {treatment} reduces the risk of {condition}.",
            "{name} spent {number} days in hospital after surgery on her {organ}.",
            "Nurses in the emergency ward treated dozens of patients with flu symptoms.",
            "The vaccine protects against severe illness, according to the latest study.",
            "Researchers found that regular exercise lowers the risk of {condition}.",
            "The surgeon explained the risks of the operation before the patient signed the consent form.",
            "Symptoms include fever, a dry cough and pain in the {organ}.",
            "The hospital opened a new clinic for people with {condition}.",
            "Doctors recommend a blood test and a scan of the {organ} to confirm the diagnosis.",
            "The side effects of the {drug} are usually mild, such as headaches and nausea.",
            "Health officials urged older people to get a flu vaccine before the winter.",
            "After the {treatment}, the patient recovered well and was sent home.",
            "The study followed thousands of patients and measured their cholesterol and heart rate.",
            "Early diagnosis of {condition} makes treatment much more effective.",
        ],
        "drug": ["antibiotics", "insulin", "painkillers", "an inhaler", "a course of steroids", "aspirin"],
        "condition": ["diabetes", "asthma", "heart disease", "high blood pressure", "cancer", "a stroke", "pneumonia"],
        "treatment": ["drug", "therapy", "vaccine", "surgery", "physiotherapy", "chemotherapy"],
        "organ": ["heart", "lungs", "kidney", "liver", "knee", "spine", "chest"],
    },
    "music": {
        "templates": [
            "The {band} played their new album to a sold out crowd in {city}.",
            "{name} has practised the {instrument} every day since she was {number} years old.",
            "The orchestra performed a symphony by {composer} under a young conductor.",
            "The singer wrote the lyrics on a train and recorded the song in one take.",
            "Critics praised the album for its catchy melodies and clever guitar solos.",
            "The {band} will begin a world tour in {month} with a concert in {city}.",
            "The pianist played the sonata slowly, and the audience stood to applaud.",
            "Their new single mixes {genre} with electronic beats and soft vocals.",
            "The drummer and the bass player kept a steady rhythm throughout the show.",
            "Fans queued for hours to buy tickets for the festival.",
            "The choir sang old folk songs in four part harmony.",
            "She learned to read music before she could play a single chord on the {instrument}.",
            "The {genre} band released a live recording of their last concert.",
            "The composer finished the opera shortly before his death.",
            "The guitarist tuned the strings and started the first song of the evening.",
            "The {band} won an award for the best album of the year.",
        ],
        "band": ["rock band", "jazz quartet", "string quartet", "indie band", "folk duo", "brass band"],
        "instrument": ["piano", "violin", "guitar", "cello", "trumpet", "drums", "flute", "saxophone"],
        "composer": ["Beethoven", "Mozart", "Brahms", "Mahler", "Tchaikovsky", "Bach"],
        "genre": ["jazz", "rock", "hip hop", "folk", "blues", "pop", "reggae"],
    },
    "computers": {
        "templates": [
            "The new {device} has a faster processor and twice as much memory.",
            "Install the latest software update to fix the bug in the {software}.",
            "{name} wrote a small program in {language} to back up her files automatically.",
            "The {device} would not boot after the hard drive failed.",
            "Hackers used a security flaw in the {software} to steal passwords.",
            "The developers rewrote the database code to make the server faster.",
            "A good graphics card makes games and video editing much smoother.",
            "The {software} crashed every time I opened a large spreadsheet.",
            "Programmers in {city} are building an app that runs on any operating system.",
            "Restart the router if the wireless network keeps dropping the connection.",
            "The keyboard and mouse connect to the {device} through a single cable.",
            "The engineers compiled the code, ran the tests and fixed the remaining errors.",
            "Cloud storage lets you share files between your laptop and your phone.",
            "The {language} library makes it easy to read data from a web server.",
            "Open the terminal, type the command and press enter to install the package.",
            "The {device} ships with a solid state drive, a larger screen and a better battery.",
        ],
        "device": ["laptop", "desktop computer", "tablet", "server", "workstation", "smartphone"],
        "software": ["operating system", "web browser", "email client", "word processor", "antivirus program", "video player"],
        "language": ["Python", "Java", "C", "Rust", "JavaScript", "Perl"],
    },
    "gardening": {
        "templates": [
            "Plant the {plant} in a sunny spot and water them well during dry weather.",
            "{name} spent {duration} digging compost into the vegetable beds.",
            "Slugs ate most of the {crop} before they had a chance to grow.",
            "Prune the {shrub} in late winter, before the new buds appear.",
            "The soil in our garden is heavy clay, so we added sand and manure.",
            "Sow the {crop} seeds thinly in rows and cover them with fine soil.",
            "The {flower} bloomed early this year because of the mild spring.",
            "Mulch around the {shrub} keeps the roots moist and stops weeds from growing.",
            "A greenhouse lets you grow {crop} even when the nights are cold.",
            "Weed the flower beds regularly, and the {flower} will have room to spread.",
            "The gardeners in {city} planted hundreds of {flower} along the river.",
            "Water the seedlings in the morning so the leaves dry before evening.",
            "Our apple tree produced a huge harvest after we pruned the old branches.",
            "Bees and butterflies love the {flower} in the border by the lawn.",
            "Dig a hole twice as wide as the roots, then plant the {shrub} and firm the soil.",
            "Mow the lawn less often in summer so that the grass does not dry out.",
        ],
        "plant": ["tomato plants", "sunflowers", "strawberries", "herbs", "lettuces", "beans"],
        "crop": ["lettuce", "carrots", "cabbages", "peas", "beans", "radishes", "onions"],
        "shrub": ["roses", "hedge", "lavender", "apple tree", "hydrangea", "currant bushes"],
        "flower": ["tulips", "daffodils", "roses", "poppies", "dahlias", "lilies", "marigolds"],
    },
}

_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, slots: Dict[str, List[str]], rng: random.Random) -> str:
    text = _SLOT.sub(lambda m: rng.choice(slots[m.group(1)]), template)
    return text[0].upper() + text[1:]


def generate_demo_docs(
    n_docs: int = 800,
    seed: int = 0,
    themes: Optional[Sequence[str]] = None,
    min_sentences: int = 2,
    max_sentences: int = 5,
    generic_share: float = 0.25,
) -> Iterator[Dict[str, str]]:
    """Generate the demo documents, balanced over the themes.

    n_docs (int): Number of documents.
    seed (int): Seed of the random number generator.
    themes (Optional[Sequence[str]]): Themes to use (default: all of `THEMES`).
    min_sentences (int): Fewest sentences per document.
    max_sentences (int): Most sentences per document.
    generic_share (float): Share of documents with one theme-neutral sentence.
    YIELDS (Dict[str, str]): Records {"id", "text", "label"}.
    """
    names = list(THEMES) if themes is None else list(themes)
    unknown = [t for t in names if t not in THEMES]
    if unknown:
        raise ValueError(f"Unknown demo themes {unknown}: choose from {list(THEMES)}.")
    if not 1 <= min_sentences <= max_sentences:
        raise ValueError("Need 1 <= min_sentences <= max_sentences.")
    rng = random.Random(seed)
    labels = [names[i % len(names)] for i in range(n_docs)]
    rng.shuffle(labels)
    for i, label in enumerate(labels):
        theme = THEMES[label]
        slots = {**COMMON, **{k: v for k, v in theme.items() if k != "templates"}}
        n = rng.randint(min_sentences, max_sentences)
        sentences = [_fill(t, slots, rng) for t in rng.sample(theme["templates"], n)]
        if rng.random() < generic_share:
            pos = rng.randint(0, len(sentences))
            sentences.insert(pos, _fill(rng.choice(GENERIC), COMMON, rng))
        yield {"id": f"demo-{i:04d}", "text": " ".join(sentences), "label": label}


def write_demo_corpus(
    output: Union[str, Path], n_docs: int = 800, seed: int = 0, **kwargs
) -> int:
    """Write the demo corpus as JSONL (one {"id", "text", "label"} per line).

    output (Union[str, Path]): The file to write.
    n_docs (int): Number of documents.
    seed (int): Seed of the random number generator.
    RETURNS (int): The number of documents written.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with output.open("w", encoding="utf-8", newline="\n") as f:
        for record in generate_demo_docs(n_docs=n_docs, seed=seed, **kwargs):
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n
