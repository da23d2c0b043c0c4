"""The HTML report: a self-contained page with one section per topic, the map,
the heatmap, the cluster × label table and the scores, with every document
text escaped; and the same page drawn by a real browser (headless Chromium)."""
import copy
import html
import re
import subprocess
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import DocBin, Span
from typer.testing import CliRunner

from spacy_textvae.errors import TextVAEError
from spacy_textvae.project import cli
from spacy_textvae.project.html_report import build_report, project_2d, render_topic_spans, write_report
from spacy_textvae.project.report_page import render_page
from spacy_textvae.project.reports import _load_examples

from ..conftest import make_corpus, train

N_TOPICS = 4
XSS = "<script>alert(1)</script>"
CHROMIUM = Path("/usr/bin/chromium")
runner = CliRunner()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A tiny textvae pipeline trained on 60 themed docs, saved, and a corpus
    of those docs with gold labels in doc.cats, one doc holding markup."""
    root = tmp_path_factory.mktemp("report")
    texts, labels = make_corpus(n_per_theme=20, seed=1)
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "textvae",
        config={"n_topics": N_TOPICS, "n_clusters": 4, "kl_warmup_epochs": 5.0, "prior_fit_epochs": 2.5,
                "model": {"hidden_width": 32, "tok2vec": {"width": 32, "embed_size": 500}}},
    )
    train(nlp, texts, epochs=8)
    nlp.to_disk(root / "model")
    texts = list(texts)
    texts[0] = f"The rocket reached orbit. {XSS} See https://example.com/x for the launch."
    names = sorted(set(labels))
    db = DocBin(store_user_data=True)
    for text, label in zip(texts, labels):
        doc = nlp.make_doc(text)
        doc.cats = {name: float(name == label) for name in names}
        db.add(doc)
    db.to_disk(root / "dev.spacy")
    return root, nlp, len(texts)


@pytest.fixture(scope="module")
def page(pipeline, tmp_path_factory):
    root, nlp, n_docs = pipeline
    out = tmp_path_factory.mktemp("html") / "report.html"
    report = write_report(root / "model", root / "dev.spacy", out, progress=False)
    return out, out.read_text("utf8"), report


def external_references(text: str):
    """src/href/url()/@import references to anything but the page itself."""
    refs = re.findall(r"""(?:src|href|action|srcset)\s*=\s*["']?\s*([^"'\s>]+)""", text, flags=re.I)
    refs += re.findall(r"""url\(\s*["']?([^"')]+)""", text, flags=re.I)
    refs += re.findall(r"""@import\s+["']?([^"';]+)""", text, flags=re.I)
    return [ref for ref in refs if not ref.startswith("#")]


def test_page_is_self_contained(page):
    _, text, _ = page
    assert external_references(text) == []
    assert not re.search(r"<script[^>]*\ssrc", text, flags=re.I)
    assert not re.search(r"<link\b", text, flags=re.I)
    # The link in a document's text is shown as text, not as a link.
    assert "https://example.com/x" in text


def test_one_section_per_topic_with_words_sizes_and_docs(page, pipeline):
    _, text, report = page
    _, _, n_docs = pipeline
    sections = re.findall(r'<section class="topic" data-topic="(\d+)"', text)
    assert sections == [str(k) for k in range(N_TOPICS)]
    assert sum(t["size"] for t in report["topics"]) == n_docs
    for topic in report["topics"]:
        assert len(topic["words"]) == len(topic["weights"]) == 10
        assert f'{topic["size"]:,} docs ({100 * topic["share"]:.1f}%)' in text
        assert len(topic["docs"]) == 3
        # Representative docs are those with the highest proportion of the topic.
        assert [d["p"] for d in topic["docs"]] == sorted((d["p"] for d in topic["docs"]), reverse=True)
    assert text.count('class="bar"') == N_TOPICS * 10


def test_map_shows_every_doc_below_the_limit(page, pipeline):
    _, text, report = page
    _, _, n_docs = pipeline
    assert len(report["map"]["points"]) == n_docs and not report["map"]["sampled"]
    assert 'data-testid="map-sampled"' not in text
    assert f"All {n_docs:,} documents." in text
    xy = numpy.array([p[:2] for p in report["map"]["points"]])
    assert xy.min() >= 0.0 and xy.max() <= 1.0 and xy.std(axis=0).min() > 0.0


def test_doc_text_is_escaped(page):
    _, text, _ = page
    assert XSS not in text
    # In the JSON for the map's hover text, "<" cannot close the script block.
    data = text.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "alert(1)" in data and "<" not in data
    # Exactly the page's own two scripts and its JSON block.
    assert len(re.findall(r"<script\b", text)) == 3


def test_every_text_on_the_page_is_escaped(page):
    """Markup in any text that comes from the data (doc texts, topic words,
    gold labels, span labels, paths) is shown, never run."""
    _, _, report = page
    report = copy.deepcopy(report)
    report["title"] = report["source"]["model"] = report["component"] = XSS
    for topic in report["topics"]:
        topic["label"] = topic["words"][0] = XSS
        topic["labels"] = {XSS: 1}
        topic["docs"][0]["text"] = XSS
    report["cluster_labels"]["labels"][0] = XSS
    report["scores"][XSS] = 1.0
    report["map"]["points"][0][4] = XSS
    nlp = spacy.blank("en")
    doc = nlp(f"A rocket {XSS} in orbit")
    doc.spans["textvae"] = [Span(doc, 1, 3, label=XSS)]
    report["rendered"] = [{"doc": 0, "topic": 0, "html": render_topic_spans(doc, "textvae", {XSS: "#f00"}),
                           "has_spans": True}]
    text = render_page(report)
    assert "<script>alert" not in text
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3 * N_TOPICS + 4
    assert len(re.findall(r"<script\b", text)) == 3


def test_similarity_clusters_and_scores(page):
    _, text, report = page
    sim = numpy.array(report["similarity"])
    assert sim.shape == (N_TOPICS, N_TOPICS)
    numpy.testing.assert_allclose(numpy.diag(sim), 1.0, atol=1e-3)
    numpy.testing.assert_allclose(sim, sim.T, atol=1e-4)
    table = report["cluster_labels"]
    assert table["labels"] == ["cooking", "football", "space"]
    assert sum(sum(r["counts"]) for r in table["rows"]) == report["n_docs"]
    assert 'data-testid="cluster-labels"' in text
    for key in ("textvae_npmi", "textvae_diversity", "textvae_cluster_nmi"):
        assert f'data-score="{key}"' in text
        assert report["scores"][key] is not None
    assert len(re.findall(r'data-testid="rendered-doc"', text)) == len(report["rendered"]) >= 1
    # The component marks runs of topic words (doc.spans[<its name>]), labelled by topic: shown in the text.
    assert all(r["has_spans"] for r in report["rendered"])
    labels = {t["label"] for t in report["topics"]}
    assert any(html.escape(label) in r["html"] for r in report["rendered"] for label in labels)
    assert 'class="spans"' in text


def test_large_corpus_map_is_a_seeded_sample_and_says_so(pipeline, tmp_path):
    root, nlp, n_docs = pipeline
    examples = _load_examples(nlp, root / "dev.spacy")
    a = build_report(nlp, examples, max_points=25, seed=3, progress=False)
    assert len(a["map"]["points"]) == 25 and a["map"]["sampled"]
    b = build_report(nlp, _load_examples(nlp, root / "dev.spacy"), max_points=25, seed=3, progress=False)
    assert a["map"]["points"] == b["map"]["points"]
    c = build_report(nlp, _load_examples(nlp, root / "dev.spacy"), max_points=25, seed=4, progress=False)
    assert a["map"]["points"] != c["map"]["points"]
    # Topic sizes still count every doc.
    assert sum(t["size"] for t in a["topics"]) == n_docs
    out = tmp_path / "sampled.html"
    result = runner.invoke(cli.app, ["report", str(root / "model"), str(root / "dev.spacy"), str(out),
                                     "--max-points", "25", "--seed", "3", "--top-n", "5"])
    assert result.exit_code == 0, result.output
    assert "Building the report" not in result.output  # no progress bar off a terminal
    assert "a seeded sample of 25 on the map" in result.output
    text = out.read_text("utf8")
    assert 'data-testid="map-sampled"' in text
    assert f"Showing a random sample of 25 of {n_docs:,} documents (seed 3)" in text
    assert text.count('class="bar"') == N_TOPICS * 5


def test_projection_is_pca_with_fixed_signs():
    rng = numpy.random.default_rng(0)
    latents = rng.normal(size=(200, 5)) * numpy.array([5.0, 3.0, 1.0, 0.5, 0.1])
    xy = project_2d(latents)
    numpy.testing.assert_array_equal(project_2d(latents.copy()), xy)
    # Each axis's sign is fixed by its loadings, not left to the SVD: the
    # negated latents give the point-reflected map, not a mirrored one.
    numpy.testing.assert_allclose(project_2d(-latents), -xy, atol=1e-9)
    # The first axis is the direction of largest variance, here latent dim 0.
    assert xy[:, 0].var() > xy[:, 1].var() > 0
    numpy.testing.assert_allclose(xy[:, 0], latents[:, 0] - latents[:, 0].mean(), atol=0.5)
    assert project_2d(numpy.zeros((1, 5))).shape == (1, 2)


def test_bad_max_points_fails_with_the_fix(pipeline):
    root, nlp, _ = pipeline
    with pytest.raises(TextVAEError, match=r"--max-points is 0\. Pass a positive number"):
        build_report(nlp, _load_examples(nlp, root / "dev.spacy"), max_points=0, progress=False)


# -- the page in a real browser ---------------------------------------------------------


def chromium_dom(html_file: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran, from headless Chromium."""
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", html_file.as_uri(),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def attr(dom: str, testid: str, name: str) -> str:
    tag = re.search(rf'<[^>]*data-testid="{testid}"[^>]*>', dom)
    assert tag, f"no element with data-testid={testid}"
    value = re.search(rf'{name}="([^"]*)"', tag.group(0))
    assert value, f"{testid} has no {name}: {tag.group(0)}"
    return value.group(1)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium (/usr/bin/chromium) is not installed: apt-get install chromium")
def test_page_draws_in_chromium_without_errors(pipeline, tmp_path):
    root, nlp, n_docs = pipeline
    out = tmp_path / "report.html"
    write_report(nlp, root / "dev.spacy", out, max_points=40, seed=0, progress=False)
    dom = chromium_dom(out, tmp_path / "profile")
    errors = re.search(r'<pre data-testid="errors"[^>]*>(.*?)</pre>', dom, flags=re.S)
    assert errors and errors.group(1) == "", errors and errors.group(1)
    assert attr(dom, "errors", "data-count") == "0"
    assert attr(dom, "status", "data-state") == "drawn"
    assert attr(dom, "status", "data-topics") == str(N_TOPICS)
    assert attr(dom, "status", "data-map-points") == "40"
    assert attr(dom, "status", "data-heatmap-cells") == str(N_TOPICS ** 2)
    assert attr(dom, "status", "data-requests") == "0"
    assert len(re.findall(r"<circle\b[^>]*data-point", dom)) == 40
    assert len(re.findall(r"<rect\b[^>]*data-cell", dom)) == N_TOPICS ** 2
    assert "<script>alert(1)</script>" not in dom.split('id="report-data"')[0]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium (/usr/bin/chromium) is not installed: apt-get install chromium")
def test_the_error_box_catches_script_errors(page, tmp_path):
    """The check above can fail: a page whose script throws shows it."""
    _, text, _ = page
    broken = tmp_path / "broken.html"
    broken.write_text(text.replace('"use strict";', '"use strict"; console.error("boom"); null.x;', 1), "utf8")
    dom = chromium_dom(broken, tmp_path / "profile")
    assert attr(dom, "errors", "data-count") == "2"
    assert "console.error: boom" in dom
    assert attr(dom, "status", "data-state") == "loading"
