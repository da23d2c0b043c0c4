"""Topic structure and groups in the project: preprocessing keeps group and
date fields in doc.user_data, and the HTML report and the topics JSON show
the topic tree and the topic shares per group and over time."""
import html
import json
import re

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_textvae.project import cli
from spacy_textvae.project.corpus import InputError, preprocess_corpus
from spacy_textvae.project.html_report import write_report
from spacy_textvae.project.reports import topic_report
from spacy_textvae.topic_tree import TopicTree

from ..conftest import make_corpus, train

N_TOPICS = 4
CONFIG = {"n_topics": N_TOPICS, "n_clusters": 4, "kl_warmup_epochs": 5.0, "prior_fit_epochs": 2.5,
          "model": {"hidden_width": 32, "tok2vec": {"width": 32, "embed_size": 500}}}
XSS_GROUP = "<b>blog</b>"
runner = CliRunner()


def read_docs(path):
    nlp = spacy.blank("en")
    return list(DocBin().from_disk(path).get_docs(nlp.vocab))


def test_preprocess_keeps_group_and_date_fields(tmp_path):
    records = [
        {"text": "The rocket reached orbit.", "label": "space", "source": "wire", "published": "2024-01-05"},
        {"text": "The chef baked bread.", "label": "food", "source": "blog", "published": "2024-02-11"},
        {"text": "The striker scored a goal.", "label": "sport", "source": "wire"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    dev = tmp_path / "dev.jsonl"
    dev.write_text(json.dumps(records[0]) + "\n", encoding="utf8")
    preprocess_corpus(src, tmp_path / "t.spacy", tmp_path / "d.spacy", dev_input=dev, progress=False,
                      group_field="source", date_field="published")
    docs = read_docs(tmp_path / "t.spacy")
    assert [d.user_data.get("group") for d in docs] == ["wire", "blog", "wire"]
    assert [d.user_data.get("date") for d in docs] == ["2024-01-05", "2024-02-11", None]
    assert docs[0].cats == {"food": 0.0, "space": 1.0, "sport": 0.0}
    # Without the options, nothing extra is stored.
    preprocess_corpus(src, tmp_path / "t2.spacy", tmp_path / "d2.spacy", dev_input=dev, progress=False)
    assert all(not d.user_data for d in read_docs(tmp_path / "t2.spacy"))
    # The command line takes them too.
    result = runner.invoke(cli.app, ["preprocess", str(src), str(tmp_path / "t3.spacy"), str(tmp_path / "d3.spacy"),
                                     "--dev-input", str(dev), "--date-field", "published"])
    assert result.exit_code == 0, result.output
    assert [d.user_data.get("date") for d in read_docs(tmp_path / "t3.spacy")][:2] == ["2024-01-05", "2024-02-11"]


def test_preprocess_csv_fields_and_errors(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("text,when\nThe rocket reached orbit.,2024-03-01\nThe chef baked bread.,\n", encoding="utf8")
    dev = tmp_path / "dev.csv"
    dev.write_text("text,when\nThe striker scored.,2023-01-01\n", encoding="utf8")
    preprocess_corpus(src, tmp_path / "t.spacy", tmp_path / "d.spacy", dev_input=dev, progress=False,
                      date_field="when", label_field="")
    assert [d.user_data.get("date") for d in read_docs(tmp_path / "t.spacy")] == ["2024-03-01", None]
    with pytest.raises(InputError, match="no 'source' column .*--group-field"):
        preprocess_corpus(src, tmp_path / "t.spacy", tmp_path / "d.spacy", dev_input=dev, progress=False,
                          group_field="source")
    txt = tmp_path / "in.txt"
    txt.write_text("The rocket reached orbit.\n", encoding="utf8")
    with pytest.raises(InputError, match="plain text, which has no fields"):
        preprocess_corpus(txt, tmp_path / "t.spacy", tmp_path / "d.spacy", dev_input=txt.with_name("x.txt"),
                          progress=False, group_field="source")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A tiny trained pipeline, saved merged (3 topics), and a corpus whose
    docs carry a group and a date in user_data."""
    root = tmp_path_factory.mktemp("structure")
    texts, labels = make_corpus(n_per_theme=20, seed=1)
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=CONFIG)
    train(nlp, texts, epochs=8)
    nlp.get_pipe("textvae").merge_topics([[0, 1]])
    nlp.to_disk(root / "model")
    db = DocBin(store_user_data=True)
    groups = ["wire", XSS_GROUP, "wire"]
    for i, text in enumerate(texts):
        doc = nlp.make_doc(text)
        doc.user_data["group"] = groups[i % 3]
        doc.user_data["date"] = f"2024-0{1 + i % 2}-1{i % 10}"
        db.add(doc)
    db.to_disk(root / "dev.spacy")
    return root, nlp, len(texts)


@pytest.fixture(scope="module")
def page(pipeline, tmp_path_factory):
    root, _, _ = pipeline
    out = tmp_path_factory.mktemp("html") / "report.html"
    report = write_report(root / "model", root / "dev.spacy", out, progress=False)
    return out.read_text("utf8"), report


def test_report_shows_the_merged_topics_and_their_tree(page, pipeline):
    text, report = page
    _, nlp, _ = pipeline
    pipe = nlp.get_pipe("textvae")
    assert report["n_topics"] == 3 and len(report["topics"]) == 3
    assert len(re.findall(r'<section class="topic" data-topic=', text)) == 3
    tree = TopicTree.from_dict(report["tree"])
    assert tree == pipe.topic_tree(top_n=5) and tree.n_topics == 3
    block = re.search(r'<pre class="tree" data-testid="topic-tree">(.*?)</pre>', text, flags=re.S).group(1)
    assert html.unescape(block) == tree.to_text()
    assert len(block.splitlines()) == 5


def test_report_charts_topic_shares_per_group_and_month(page, pipeline):
    text, report = page
    _, _, n_docs = pipeline
    charts = {c["key"]: c for c in report["groups"]}
    assert set(charts) == {"group", "date"}
    assert charts["group"]["groups"] == sorted(["wire", XSS_GROUP])
    assert sum(charts["group"]["counts"]) == n_docs
    assert charts["date"]["frequency"] == "month" and charts["date"]["groups"] == ["2024-01", "2024-02"]
    for chart in charts.values():
        for row in chart["shares"]:
            assert len(row) == 3 and sum(row) == pytest.approx(1.0, abs=1e-3)
    svgs = re.findall(r'<svg class="groups" data-testid="group-chart" data-key="(\w+)".*?</svg>', text, flags=re.S)
    assert svgs == ["group", "date"]
    for key in ("group", "date"):
        svg = re.search(rf'data-key="{key}".*?</svg>', text, flags=re.S).group(0)
        bars = re.findall(r'<g data-group="[^"]*">(.*?)</g>', svg, flags=re.S)
        assert len(bars) == 2
        for bar in bars:
            widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', bar)]
            assert sum(widths) == pytest.approx(560, abs=0.1)
    # Group names come from the data: escaped.
    assert XSS_GROUP not in text and html.escape(XSS_GROUP) in text


def test_report_without_groups_says_how_to_get_them(pipeline, tmp_path):
    root, nlp, _ = pipeline
    db = DocBin()
    db.add(nlp.make_doc("The rocket reached orbit and the chef baked bread."))
    db.add(nlp.make_doc("The striker scored a late goal."))
    db.to_disk(tmp_path / "plain.spacy")
    report = write_report(nlp, tmp_path / "plain.spacy", tmp_path / "r.html", progress=False)
    assert report["groups"] == []
    assert 'data-testid="no-groups"' in (tmp_path / "r.html").read_text("utf8")


def test_bad_dates_are_named_in_the_report(pipeline, tmp_path):
    _, nlp, _ = pipeline
    db = DocBin(store_user_data=True)
    doc = nlp.make_doc("The rocket reached orbit.")
    doc.user_data["date"] = "yesterday"
    db.add(doc)
    db.to_disk(tmp_path / "bad.spacy")
    report = write_report(nlp, tmp_path / "bad.spacy", tmp_path / "r.html", progress=False)
    assert "'yesterday' is not an ISO date" in report["groups"][0]["error"]
    assert 'data-testid="group-error"' in (tmp_path / "r.html").read_text("utf8")


def test_topics_json_holds_the_tree(pipeline):
    root, _, _ = pipeline
    result = topic_report(root / "model", root / "dev.spacy", progress=False)
    assert len(result["topics"]) == 3
    tree = TopicTree.from_dict(json.loads(json.dumps(result["tree"])))
    assert tree.n_topics == 3 and sorted(tree.root.topics) == [0, 1, 2]
