"""Shared fixtures: a small corpus of clearly different themes, written here,
and a pipeline trained on it once per test session."""
import random
from typing import List, Tuple

import pytest
import spacy
from spacy.language import Language
from spacy.training import Example

THEMES = {
    "space": (
        "The rocket lifted off from the launch pad and carried the satellite into orbit. "
        "Astronauts aboard the station photographed the planet and the distant galaxy. "
        "The telescope observed a comet passing the moon while engineers tracked the spacecraft. "
        "Mission control confirmed the capsule docked with the orbiting laboratory. "
        "Scientists measured radiation from the sun and studied craters on the lunar surface."
    ),
    "cooking": (
        "The chef chopped garlic and onions before frying them in olive oil. "
        "She baked fresh bread in a hot oven and served it with melted butter. "
        "Simmer the tomato sauce slowly and season the pasta with basil and pepper. "
        "The recipe calls for flour, sugar, eggs and a pinch of salt in the dough. "
        "Roast the vegetables until golden and sprinkle grated cheese over the soup."
    ),
    "football": (
        "The striker scored a late goal and the stadium erupted with cheering fans. "
        "The coach praised the defenders after the team won the league match. "
        "The goalkeeper saved a penalty in the final minute of the championship game. "
        "Players trained hard before the season opener against their rivals. "
        "The referee showed a red card and the midfielder left the pitch."
    ),
}


def make_corpus(n_per_theme: int = 30, seed: int = 0, sentences: int = 3) -> Tuple[List[str], List[str]]:
    """Short documents drawn from each theme's sentences, shuffled word order
    within a sentence left intact. RETURNS (texts, labels)."""
    rng = random.Random(seed)
    texts, labels = [], []
    for label, para in THEMES.items():
        sents = [s.strip() + "." for s in para.split(".") if s.strip()]
        for _ in range(n_per_theme):
            texts.append(" ".join(rng.sample(sents, sentences)))
            labels.append(label)
    order = list(range(len(texts)))
    rng.shuffle(order)
    return [texts[i] for i in order], [labels[i] for i in order]


def make_examples(nlp: Language, texts: List[str]) -> List[Example]:
    return [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]


def train(nlp: Language, texts: List[str], epochs: int = 25, batch_size: int = 16, seed: int = 0):
    """Initialise and train nlp on texts; RETURNS the loss of each epoch."""
    spacy.util.fix_random_seed(seed)
    examples = make_examples(nlp, texts)
    optimizer = nlp.initialize(lambda: examples)
    rng = random.Random(seed)
    history = []
    for _ in range(epochs):
        rng.shuffle(examples)
        losses = {}
        for batch in spacy.util.minibatch(examples, size=batch_size):
            nlp.update(batch, sgd=optimizer, losses=losses)
        history.append(losses["textvae"])
    return history


SMALL_CONFIG = {"n_topics": 6, "n_clusters": 3, "kl_warmup_epochs": 7.0, "prior_fit_epochs": 10.0}


@pytest.fixture(scope="session")
def corpus():
    return make_corpus()


@pytest.fixture(scope="session")
def trained(corpus):
    """(nlp, loss history) trained on the themed corpus."""
    texts, _ = corpus
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    history = train(nlp, texts)
    return nlp, history


def build_tiny_bert(path, words):
    """A randomly initialised two-layer BERT with a word-piece tokenizer (whole
    `words` plus single letters, so any word can be split), built offline and
    saved like a Hugging Face model directory. RETURNS the path."""
    transformers = pytest.importorskip("transformers")
    letters = "abcdefghijklmnopqrstuvwxyz"
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = [*letters, *(f"##{c}" for c in letters), ".", ",", "'"]
    vocab = special + pieces + sorted(set(words) - set(pieces))
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = transformers.BertTokenizerFast(
        vocab_file=str(path / "vocab.txt"), do_lower_case=True, model_max_length=512
    )
    tokenizer.save_pretrained(str(path))
    bert_config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )
    transformers.BertModel(bert_config).save_pretrained(str(path))
    return path
