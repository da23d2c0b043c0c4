"""benchmarks/run_textvae.py end to end on tiny corpora written here: the topics
task (OCTIS format) and the clusters task (20 Newsgroups jsonl.gz format), with
textvae's own tok2vec and with the pipeline of configs/trf.cfg (a tiny random
BERT standing in for MiniLM)."""
import gzip
import json
import re

import pytest

from benchmarks import run_textvae

from .conftest import build_tiny_bert, make_corpus

TINY_TOK2VEC = json.dumps({"width": 16, "depth": 1, "embed_size": 1000, "subword_features": False})


def tokens(text: str):
    # OCTIS keeps no one-letter tokens (nor does the topic vocabulary).
    return re.findall(r"[a-z]{2,}", text.lower())


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    texts, labels = make_corpus(n_per_theme=30, seed=1)
    with open(root / "corpus.tsv", "w", encoding="utf8") as f:
        for text, label in zip(texts, labels):
            f.write(f"{' '.join(tokens(text))}\ttrain\t{label}\n")
    ng = root / "20ng"
    ng.mkdir()
    n_train = 60
    for name, part in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        with gzip.open(ng / f"{name}.jsonl.gz", "wt", encoding="utf8") as f:
            for i, (text, label) in enumerate(zip(texts[part], labels[part])):
                f.write(json.dumps({"id": f"{name}{i}", "label": label, "text": text}) + "\n")
    words = {w for text in texts for w in tokens(text)}
    return root, len(texts) - n_train, words


@pytest.mark.parametrize("pipeline", ["tok2vec", "transformer"])
def test_run_textvae_topics_and_clusters(bench_data, tmp_path, pipeline):
    root, n_test, words = bench_data
    out, log = tmp_path / "records.json", tmp_path / "log.jsonl"
    argv = [
        "both", "--octis-tsv", str(root / "corpus.tsv"), "--ng20-dir", str(root / "20ng"),
        "--k", "3", "--epochs", "3", "--batch-size", "16", "--cluster-batch-size", "16",
        "--out", str(out), "--log", str(log), "--tag", pipeline,
    ]
    if pipeline == "transformer":
        pytest.importorskip("spacy_transformers")
        argv += ["--transformer", str(build_tiny_bert(tmp_path / "bert", words))]
    else:
        argv += ["--tok2vec", TINY_TOK2VEC]
    run_textvae.main(argv)
    topics, clusters = json.loads(out.read_text())
    assert len(log.read_text().splitlines()) == 2

    assert topics["task"] == "topics" and topics["k"] == 3
    assert -1.0 <= topics["npmi"] <= 1.0 and 0.0 < topics["td"] <= 1.0
    assert len(topics["topics"]) == 3 and all(len(t) == 10 for t in topics["topics"])
    assert topics["n_vocab"] == len(words)

    assert clusters["task"] == "clusters" and clusters["n_test"] == n_test
    for scores in (clusters, clusters["kmeans_latent"]):
        assert 0.0 <= scores["nmi"] <= 1.0 and 0.0 < scores["purity"] <= 1.0
    # The record says which settings trained: with the transformer, those of
    # configs/trf.cfg (its pooling is "mean"; the factory's is "mean_max").
    pooling = clusters["model_settings"]["pooling"]
    assert pooling == ("mean" if pipeline == "transformer" else "mean_max")
    assert topics["model_settings"]["@architectures"] == "spacy-textvae.TextVAE.v4"
    assert topics["model_settings"]["decoder"] == "embedding" and "tok2vec" not in topics["model_settings"]
    assert clusters["transformer"] == (None if pipeline == "tok2vec" else argv[-1])


def test_run_textvae_rejects_tok2vec_overrides_with_a_transformer(bench_data, tmp_path):
    root, _, _ = bench_data
    with pytest.raises(ValueError, match="--tok2vec"):
        run_textvae.main([
            "topics", "--octis-tsv", str(root / "corpus.tsv"), "--k", "3", "--epochs", "1",
            "--transformer", str(tmp_path), "--tok2vec", TINY_TOK2VEC, "--log", str(tmp_path / "l.jsonl"),
        ])


def test_report_keeps_each_systems_kmeans_row_apart():
    from benchmarks.report import render

    def clusters(system, nmi, km_nmi):
        return {"task": "clusters", "system": system, "nmi": nmi, "ari": 0.1, "purity": 0.3,
                "kmeans_latent": {"nmi": km_nmi, "ari": 0.1, "purity": 0.3}}

    table = render([clusters("textvae (cpu)", 0.40, 0.41), clusters("textvae (cpu)", 0.38, 0.39),
                    clusters("textvae (cpu)", 0.39, 0.37), clusters("textvae (transformer)", 0.50, 0.52)])
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert "| .390 / .100 / .300 (3) |" in rows["textvae (cpu)"]  # the median of three seeds
    assert ".390 / .100 / .300 (3)" in rows["k-means on textvae (cpu) doc._.latent (two steps)"]
    assert ".520 / .100 / .300 (1)" in rows["k-means on textvae (transformer) doc._.latent (two steps)"]


def test_report_says_which_decoder_each_task_used():
    from benchmarks.report import render

    topics = {"task": "topics", "system": "textvae (cpu)", "k": 20, "npmi": 0.2, "td": 0.9,
              "model_settings": {"decoder": "embedding", "decoder_temperature": 0.5, "word_dropout": 0.3}}
    clusters = {"task": "clusters", "system": "textvae (cpu)", "nmi": 0.4, "ari": 0.2, "purity": 0.3,
                "model_settings": {"decoder": "linear", "word_dropout": 0.3}}
    tied = {**clusters, "system": "textvae (tied)", "component_settings": {"cluster_means": "topics"},
            "model_settings": {"decoder": "embedding", "decoder_temperature": 0.5, "word_dropout": 0.3}}
    table = render([topics, clusters, tied,
                    {"task": "topics", "system": "sklearn_nmf", "k": 20, "npmi": 0.1, "td": 0.7}])
    # A record without `cluster_means` predates the setting: free means.
    assert ("textvae (cpu): topics: decoder embedding (τ 0.5), word dropout 0.3 · "
            "clusters: decoder linear, word dropout 0.3, free cluster means.") in table
    assert ("textvae (tied): clusters: decoder embedding (τ 0.5), word dropout 0.3, "
            "cluster means tied to the topics.") in table
    assert "sklearn_nmf:" not in table
