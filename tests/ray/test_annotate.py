"""spacy_textvae.ray.annotate on a local Ray instance: the textvae columns,
equal to nlp.pipe within its own batch-size noise, and the CLI."""
import json
import subprocess
import sys

import numpy
import pytest
import spacy

ray = pytest.importorskip("ray")

from spacy_textvae.errors import TextVAEError  # noqa: E402
from spacy_textvae.ray import annotate, read_texts  # noqa: E402
from spacy_textvae.ray.annotate import default_concurrency  # noqa: E402

# nlp.pipe's own difference between batch sizes is about 3e-6 on the latent.
TOLERANCE = 1e-5


def pipe_columns(path, texts, batch_size):
    nlp = spacy.load(path)
    docs = list(nlp.pipe(texts, batch_size=batch_size))
    return {
        "latent": numpy.stack([d._.latent for d in docs]),
        "topics": numpy.stack([d._.topics for d in docs]),
        "cluster_probs": numpy.stack([d._.cluster_probs for d in docs]),
        "cluster": numpy.asarray([d._.cluster for d in docs]),
    }


def test_annotate_equals_nlp_pipe(ray_local, saved_model):
    path, texts = saved_model
    texts = texts + ["", "   "]
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
    rows = annotate(ds, path, batch_size=7, concurrency=1).to_pandas().sort_values("id")
    assert {"id", "text", "latent", "topics", "cluster", "cluster_probs"} <= set(rows.columns)
    got = {name: numpy.stack(rows[name].to_numpy()) for name in ("latent", "topics", "cluster_probs")}
    expected = pipe_columns(path, texts, batch_size=64)
    noise = numpy.abs(pipe_columns(path, texts, batch_size=1)["latent"] - expected["latent"]).max()
    for name in ("latent", "topics", "cluster_probs"):
        assert got[name].dtype == numpy.float32 and got[name].shape == expected[name].shape
        diff = float(numpy.abs(got[name] - expected[name]).max())
        print(f"{name}: max abs difference from nlp.pipe {diff:.2e} (nlp.pipe batch 1 vs 64: {noise:.2e})")
        assert diff <= TOLERANCE
    assert (rows["cluster"].to_numpy() == expected["cluster"]).mean() >= 0.95
    numpy.testing.assert_allclose(got["topics"].sum(1), 1.0, atol=1e-5)


def test_default_pool_leaves_a_cpu_for_reading(ray_local):
    # 2 CPUs: one actor, one CPU for the read and write tasks.
    assert default_concurrency(None, 1.0) == 1
    with pytest.raises(TextVAEError, match="num_gpus"):
        default_concurrency(1.0, 1.0)


def test_annotate_checks_arguments(ray_local, saved_model):
    path, _ = saved_model
    ds = ray.data.from_items([{"body": "The rocket reached orbit."}])
    with pytest.raises(TextVAEError, match="concurrency"):
        annotate(ds, path, concurrency=0)
    with pytest.raises(TextVAEError, match="text_column"):
        annotate(ds.materialize(), path, concurrency=1)
    # Where the schema is known only once read, the actor says the same.
    lazy = ds.map(lambda row: row)
    with pytest.raises(Exception, match="text_column"):
        annotate(lazy, path, concurrency=1).take_all()


def test_read_texts_refuses_other_formats(tmp_path):
    (tmp_path / "texts.csv").write_text("text\nhello\n", encoding="utf8")
    with pytest.raises(TextVAEError, match="JSONL"):
        read_texts(tmp_path / "texts.csv")


def test_ray_annotate_cli(tmp_path, saved_model):
    """JSONL in, Parquet out, through `python -m spacy textvae ray-annotate`
    (its own local Ray on this machine's CPUs: the default pool must not stall)."""
    pq = pytest.importorskip("pyarrow.parquet")
    path, texts = saved_model
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts[:20])), encoding="utf8")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spacy", "textvae", "ray-annotate", str(path), str(source), str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    table = pq.read_table(out).to_pandas().sort_values("id")
    assert len(table) == 20
    expected = pipe_columns(path, texts[:20], batch_size=64)
    latent = numpy.stack(table["latent"].to_numpy())
    assert float(numpy.abs(latent - expected["latent"]).max()) <= TOLERANCE


def test_read_texts_reads_parquet(ray_local, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"text": ["one text", "another"], "id": [1, 2]}), tmp_path / "part.parquet")
    rows = read_texts(tmp_path).take_all()
    assert sorted(r["text"] for r in rows) == ["another", "one text"]
