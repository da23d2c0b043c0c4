"""The project's command-line steps (spacy_textvae.project: cli, corpus, newsgroups, reports): reading raw inputs,
writing .spacy corpora, errors on bad files, evaluation and topic reports,
the demo corpus and the 20 Newsgroups conversion."""
import csv
import gzip
import io
import json
import math
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.training import Corpus
from typer.testing import CliRunner

from spacy_textvae.errors import TextVAEError
from spacy_textvae.project import cli, newsgroups
from spacy_textvae.project.corpus import InputError, preprocess_corpus, read_records
from spacy_textvae.project.demo_corpus import THEMES, generate_demo_docs, write_demo_corpus

SHARED_20NG = Path(__file__).resolve().parents[3] / "shared" / "data" / "20newsgroups"
runner = CliRunner()


def write_jsonl(path: Path, records, compress: bool = False) -> Path:
    data = "".join(json.dumps(r) + "\n" for r in records).encode("utf8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def read_docs(path: Path):
    nlp = spacy.blank("en")
    return [eg.reference for eg in Corpus(path)(nlp)]


RECORDS = [
    {"text": "The rocket reached orbit around the moon.", "label": "space"},
    {"text": "Stir the sauce and add fresh basil.", "label": "cooking"},
    {"text": "", "label": "space"},
    {"text": "The striker scored a late goal.", "label": "football"},
    {"text": None, "label": "football"},
    {"text": "   \n", "label": "cooking"},
    {"text": "The telescope found a new comet.", "label": "space"},
    {"text": "Bake the bread for an hour.", "label": "cooking"},
]


# -- preprocess ---------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_preprocess_jsonl_split_cats_and_skips(tmp_path, compress):
    src = write_jsonl(tmp_path / ("in.jsonl.gz" if compress else "in.jsonl"), RECORDS, compress)
    summary = preprocess_corpus(
        src, tmp_path / "train.spacy", tmp_path / "dev.spacy", dev_share=0.4, seed=1, progress=False
    )
    train, dev = read_docs(tmp_path / "train.spacy"), read_docs(tmp_path / "dev.spacy")
    assert summary["train"] == len(train) and summary["dev"] == len(dev)
    assert len(train) + len(dev) == 5
    assert summary["skipped"] == {"empty text": 2, "null text": 1}
    assert any("line 3" in line or ":3" in line for line in summary["skipped_lines"])
    assert summary["labels"] == ["cooking", "football", "space"]
    texts = {doc.text: doc for doc in train + dev}
    doc = texts["The rocket reached orbit around the moon."]
    # One-hot over every label, so a textcat can learn from it and the scorer reads it.
    assert doc.cats == {"cooking": 0.0, "football": 0.0, "space": 1.0}


def test_preprocess_split_is_seeded(tmp_path):
    records = [{"text": f"Document number {i} about things.", "label": str(i % 3)} for i in range(60)]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    runs = []
    for i, seed in enumerate([0, 0, 1]):
        out = tmp_path / f"run{i}"
        preprocess_corpus(src, out / "train.spacy", out / "dev.spacy", seed=seed, progress=False)
        runs.append([d.text for d in read_docs(out / "dev.spacy")])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert 0 < len(runs[0]) < 60


def test_preprocess_separate_dev_input_limit_and_no_labels(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [{"body": f"Train text {i}."} for i in range(10)])
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"body": f"Dev text {i}."} for i in range(4)])
    summary = preprocess_corpus(
        train, tmp_path / "c/train.spacy", tmp_path / "c/dev.spacy", dev_input=dev,
        text_field="body", label_field="", limit=6, progress=False,
    )
    assert (summary["train"], summary["dev"]) == (6, 4)
    assert summary["labels"] == []
    assert [d.text for d in read_docs(tmp_path / "c/dev.spacy")] == [f"Dev text {i}." for i in range(4)]
    assert all(d.cats == {} for d in read_docs(tmp_path / "c/train.spacy"))


def test_preprocess_csv_and_txt_folder(tmp_path):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", "content", "topic"])
    writer.writerow([1, "A text, with a comma\nand a line break.", "a"])
    writer.writerow([2, "Another text.", "b"])
    writer.writerow([3, "", "b"])
    writer.writerow([4, "Third text.", "a"])
    (tmp_path / "in.csv").write_text(buf.getvalue(), encoding="utf8")
    summary = preprocess_corpus(
        tmp_path / "in.csv", tmp_path / "c1/train.spacy", tmp_path / "c1/dev.spacy",
        text_field="content", label_field="topic", dev_share=0.5, progress=False,
    )
    assert summary["train"] + summary["dev"] == 3
    assert summary["skipped"] == {"empty text": 1}
    assert summary["skipped_lines"][0].startswith("1 x empty text (in.csv:5")
    texts = {d.text for d in read_docs(tmp_path / "c1/train.spacy") + read_docs(tmp_path / "c1/dev.spacy")}
    assert "A text, with a comma\nand a line break." in texts

    folder = tmp_path / "txt"
    for label, names in {"sport": ["a", "b"], "food": ["c"]}.items():
        (folder / label).mkdir(parents=True)
        for name in names:
            (folder / label / f"{name}.txt").write_text(f"Some {label} text {name}.", encoding="utf8")
    summary = preprocess_corpus(
        folder, tmp_path / "c2/train.spacy", tmp_path / "c2/dev.spacy", dev_input=folder / "sport",
        progress=False,
    )
    assert summary["train"] == 3 and summary["dev"] == 2
    assert summary["labels"] == ["food", "sport"]


def test_preprocess_shards_large_splits(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": f"Text {i}."} for i in range(25)])
    summary = preprocess_corpus(
        src, tmp_path / "train.spacy", tmp_path / "dev.spacy", dev_input=src, dev_share=0.2,
        shard_size=5, progress=False,
    )
    assert (tmp_path / "train.spacy").is_dir()
    assert len(list((tmp_path / "train.spacy").glob("*.spacy"))) >= 3
    assert len(read_docs(tmp_path / "train.spacy")) == summary["train"]
    # Re-running replaces the folder with a file when it fits one shard.
    preprocess_corpus(src, tmp_path / "train.spacy", tmp_path / "dev.spacy", shard_size=0, progress=False)
    assert (tmp_path / "train.spacy").is_file()


@pytest.mark.parametrize(
    "content,expected",
    [
        (b'{"body": "no text field"}\n', ["in.jsonl, line 1", "'text'", "body", "--text-field"]),
        (b'{"text": "ok"}\n{"text": "caf\xe9"}\n', ["line 2", "0xe9", "UTF-8", "--encoding"]),
        (b"", ["in.jsonl is empty"]),
        (b'{"text": "ok"}\n{"text": broken\n', ["line 2", "not valid JSON"]),
        (b'[{"text": "a"}]\n', ["line 1", "JSONL"]),
        (b'"just a string"\n', ["line 1", "JSON object"]),
    ],
)
def test_bad_input_errors_name_file_line_and_fix(tmp_path, content, expected):
    src = tmp_path / "in.jsonl"
    src.write_bytes(content)
    with pytest.raises(InputError) as err:
        preprocess_corpus(src, tmp_path / "t.spacy", tmp_path / "d.spacy", progress=False)
    # The package's one error class and message style: "[textvae] <file>, <where>: ...".
    assert isinstance(err.value, TextVAEError)
    assert str(err.value).startswith(f"[textvae] {src}")
    for part in expected:
        assert part in str(err.value)


def test_bad_csv_and_format_errors(tmp_path):
    (tmp_path / "in.csv").write_text("id,body\n1,hello\n", encoding="utf8")
    with pytest.raises(InputError, match=r"in\.csv, line 1: no 'text' column \(columns: id, body\)\. Pass --text-field"):
        list(read_records(tmp_path / "in.csv", progress=False))
    (tmp_path / "in.xml").write_text("<x/>", encoding="utf8")
    with pytest.raises(InputError, match=r"in\.xml: name it \*\.jsonl.* pass --format jsonl\|csv\|txt"):
        list(read_records(tmp_path / "in.xml", progress=False))
    (tmp_path / "bad.jsonl.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(InputError, match=r"bad\.jsonl\.gz, after line 0: the file is damaged or truncated"):
        list(read_records(tmp_path / "bad.jsonl.gz", progress=False))


def test_empty_dev_split_is_an_error(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "only one document"}])
    with pytest.raises(InputError, match=r"^\[textvae\] The dev split is empty\. Raise --dev-share"):
        preprocess_corpus(src, tmp_path / "t.spacy", tmp_path / "d.spacy", dev_share=0.01, progress=False)


def unwrapped(output: str) -> str:
    """The CLI's output with wasabi's line wrapping (at 80 columns, so where it
    breaks depends on the length of the paths in a message) undone."""
    return " ".join(output.split())


def test_preprocess_command_line(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    result = runner.invoke(
        cli.app, ["preprocess", str(src), str(tmp_path / "t.spacy"), str(tmp_path / "d.spacy"), "--dev-share", "0.4"]
    )
    assert result.exit_code == 0, result.output
    assert "Skipped 3 record(s)" in unwrapped(result.output)
    assert "space" in result.output  # the label table
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"content": "x"}\n')
    result = runner.invoke(cli.app, ["preprocess", str(bad), str(tmp_path / "t.spacy"), str(tmp_path / "d.spacy")])
    assert result.exit_code == 1
    output = unwrapped(result.output)
    assert "bad.jsonl, line 1" in output and "--text-field" in output
    # The whole message, as the exception the command turned into output has it.
    with pytest.raises(InputError) as err:
        preprocess_corpus(bad, tmp_path / "t.spacy", tmp_path / "d.spacy", progress=False)
    message = str(err.value)
    assert message.startswith(f"[textvae] {bad}, line 1: no 'text' field (fields: content).")
    assert unwrapped(message) in output


# -- evaluate and topics ----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    """A tiny textvae pipeline trained for a few steps on demo docs, and its dev corpus."""
    from spacy.training import Example

    root = tmp_path_factory.mktemp("trained")
    records = list(generate_demo_docs(n_docs=48, seed=3, themes=["space", "cooking", "music"]))
    src = write_jsonl(root / "demo.jsonl", records)
    preprocess_corpus(src, root / "train.spacy", root / "dev.spacy", dev_share=0.25, progress=False)
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "textvae",
        config={
            "n_topics": 3,
            "n_clusters": 3,
            "kl_warmup_epochs": 4.0,
            "prior_fit_epochs": 2.0,
            "model": {"hidden_width": 16, "tok2vec": {"width": 16, "embed_size": 300}},
        },
    )
    examples = [Example(nlp.make_doc(d.text), d) for d in read_docs(root / "train.spacy")]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(6):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(root / "model")
    return root


def test_evaluate_reports_every_textvae_score(tiny_pipeline, tmp_path):
    out = tmp_path / "metrics" / "scores.json"
    result = runner.invoke(cli.app, ["evaluate", str(tiny_pipeline / "model"), str(tiny_pipeline / "dev.spacy"), str(out)])
    assert result.exit_code == 0, result.output
    scores = srsly.read_json(out)
    # The scorer pre-fills every key with None: check the values.
    assert -1.0 <= scores["textvae_npmi"] <= 1.0
    assert 0.0 < scores["textvae_diversity"] <= 1.0
    assert math.isfinite(scores["textvae_perplexity"]) and scores["textvae_perplexity"] > 1.0
    assert 0.0 <= scores["textvae_cluster_nmi"] <= 1.0
    assert -1.0 <= scores["textvae_cluster_ari"] <= 1.0
    assert 0.0 <= scores["textvae_cluster_purity"] <= 1.0
    assert "textvae_diversity" in result.output


def test_commands_are_spacy_cli_commands(tiny_pipeline, tmp_path):
    # A fresh interpreter, through spaCy's own CLI: the spacy_cli entry point adds them.
    out = tmp_path / "scores.json"
    cmd = [sys.executable, "-m", "spacy", "textvae", "evaluate", str(tiny_pipeline / "model"),
           str(tiny_pipeline / "dev.spacy"), str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "textvae_npmi" in result.stdout and "textvae_cluster_nmi" in result.stdout
    assert srsly.read_json(out)["textvae_diversity"] > 0.0
    help_text = subprocess.run([sys.executable, "-m", "spacy", "--help"], capture_output=True, text=True,
                               timeout=300).stdout
    assert "textvae" in help_text


def test_topics_prints_and_saves_words_and_sizes(tiny_pipeline, tmp_path):
    out = tmp_path / "topics.json"
    result = runner.invoke(cli.app, ["topics", str(tiny_pipeline / "model"), str(tiny_pipeline / "dev.spacy"), str(out), "--top-n", "5"])
    assert result.exit_code == 0, result.output
    report = srsly.read_json(out)
    assert report["component"] == "textvae"
    assert len(report["topics"]) == 3
    assert sum(t["size"] for t in report["topics"]) == report["n_docs"] == len(read_docs(tiny_pipeline / "dev.spacy"))
    for topic in report["topics"]:
        assert len(topic["words"]) == len(topic["weights"]) == 5
        assert " ".join(topic["words"]) in result.output
        assert set(topic["labels"]) <= {"space", "cooking", "music"}


def test_evaluate_missing_corpus_fails_cleanly(tiny_pipeline, tmp_path):
    result = runner.invoke(cli.app, ["evaluate", str(tiny_pipeline / "model"), str(tmp_path / "nope.spacy")])
    assert result.exit_code != 0
    assert "nope.spacy" in result.output


# -- demo corpus ----------------------------------------------------------------------


def test_demo_corpus_is_deterministic_balanced_prose(tmp_path):
    a = list(generate_demo_docs(n_docs=80, seed=0))
    assert a == list(generate_demo_docs(n_docs=80, seed=0))
    assert a != list(generate_demo_docs(n_docs=80, seed=1))
    labels = [r["label"] for r in a]
    assert set(labels) == set(THEMES)
    assert max(labels.count(t) for t in THEMES) - min(labels.count(t) for t in THEMES) <= 1
    for record in a:
        text = record["text"]
        assert "{" not in text and "}" not in text
        assert text[0].isupper() and text.endswith(".")
        assert 2 <= text.count(". ") + 1
    n = write_demo_corpus(tmp_path / "demo.jsonl", n_docs=10, seed=0)
    assert n == 10 and len((tmp_path / "demo.jsonl").read_text("utf8").splitlines()) == 10


# -- 20 Newsgroups ----------------------------------------------------------------------


def make_archive(path: Path, posts) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in posts:
            data = raw.encode("latin-1")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_clean_newsgroup_post_follows_sklearn_rules():
    raw = (
        "From: a@b.c\nSubject: Re: engines\n\n"
        "In article <1@x> bob@y.z writes:\n> quoted line\n| also quoted\n"
        "My engine is fine.\nIt runs well.\n\n--\nBob\n"
    )
    # The footer cut is at the last blank-or-dashes line ("--"), as scikit-learn does.
    assert newsgroups.clean_newsgroup_post(raw) == "My engine is fine.\nIt runs well.\n"
    assert newsgroups.strip_newsgroup_header("no blank line") == ""
    assert newsgroups.strip_newsgroup_footer("one line only") == "one line only"


def test_convert_20ng_archive(tmp_path):
    posts = [
        ("20news-bydate-train/sci.space/2", "Subject: b\n\nOrbit talk.\n"),
        ("20news-bydate-train/rec.autos/1", "Subject: a\n\nCar talk.\n"),
        ("20news-bydate-test/sci.space/9", "Subject: c\n\nMoon caf\xe9.\n"),
    ]
    archive = make_archive(tmp_path / "20news-bydate.tar.gz", posts)
    counts = newsgroups.convert_20newsgroups(archive, tmp_path / "out", progress=False)
    assert counts == {"train": 2, "test": 1}
    train = list(srsly.read_gzip_jsonl(tmp_path / "out" / "train.jsonl.gz"))
    assert [r["id"] for r in train] == ["train/rec.autos/1", "train/sci.space/2"]
    assert train[0]["label"] == "rec.autos" and train[0]["text"] == "Car talk.\n"
    test = list(srsly.read_gzip_jsonl(tmp_path / "out" / "test.jsonl.gz"))
    assert test[0]["raw"].endswith("Moon caf\xe9.\n")
    # Byte-identical on a rebuild (gzip written with mtime 0).
    first = (tmp_path / "out" / "train.jsonl.gz").read_bytes()
    newsgroups.convert_20newsgroups(archive, tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "train.jsonl.gz").read_bytes() == first
    with pytest.raises(InputError, match=r"missing\.tar\.gz not found\. Fetch it with"):
        newsgroups.convert_20newsgroups(tmp_path / "missing.tar.gz", tmp_path / "out")


@pytest.mark.skipif(not (SHARED_20NG / "test.jsonl.gz").exists(), reason="needs ../shared/data/20newsgroups")
def test_convert_20ng_matches_reference_cleaning(tmp_path):
    """The cleaning reproduces the reference corpus (checked against
    scikit-learn there) on the raw posts of the shared copy."""
    records = []
    for i, rec in enumerate(srsly.read_gzip_jsonl(SHARED_20NG / "test.jsonl.gz")):
        if i % 25 == 0:
            records.append(rec)
        if len(records) >= 300:
            break
    posts = [(f"20news-bydate-test/{r['label']}/{r['id'].rsplit('/', 1)[1]}", r["raw"]) for r in records]
    archive = make_archive(tmp_path / "20ng.tar.gz", posts)
    newsgroups.convert_20newsgroups(archive, tmp_path / "out", progress=False)
    got = {r["id"]: r for r in srsly.read_gzip_jsonl(tmp_path / "out" / "test.jsonl.gz")}
    for rec in records:
        assert got[rec["id"]]["text"] == rec["text"], rec["id"]
        assert got[rec["id"]]["raw"] == rec["raw"]
