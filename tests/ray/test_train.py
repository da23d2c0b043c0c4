"""spacy_textvae.ray.train on a local Ray instance: two workers keep identical
weights after every step and train as one process does on the same global
batch; the workers' loop alone reproduces spaCy's own training loop; the CLI
saves model-best and model-last."""
import json
import os
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
import torch.distributed as dist

ray = pytest.importorskip("ray")

from spacy_textvae.ray import train  # noqa: E402
from spacy_textvae.ray.distributed import weights_digest  # noqa: E402


def corpus_overrides(path, batch_size):
    return {
        "paths.train": str(path / "train.spacy"),
        "paths.dev": str(path / "dev.spacy"),
        "training.batcher.size": batch_size,
    }


def digest_recorder(folder):
    """A step callback writing each worker's weight digest and loss per step."""

    def record(nlp, info, rank):
        with open(folder / f"rank{rank}.jsonl", "a", encoding="utf8") as f:
            f.write(json.dumps({"step": info["step"], "loss": info["loss"], "digest": weights_digest(nlp)}) + "\n")

    return record


def read_log(path):
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def train_in_process(train_corpus, output, batch_size, seed=0):
    """The workers' loop in this process, as the only worker of a gloo group."""
    from spacy_textvae.ray.train import training_loop

    output.mkdir(parents=True)
    dist.init_process_group("gloo", init_method=f"file://{output}.pg", rank=0, world_size=1)
    threads = torch.get_num_threads()
    try:
        overrides = {**corpus_overrides(train_corpus, batch_size), "training.seed": seed}
        loop_config = {"config_path": str(train_corpus / "config.cfg"), "overrides": overrides,
                       "output_path": str(output), "threads": 1, "use_gpu": False}
        return {**training_loop(loop_config, 0, 1), "output_path": str(output)}
    finally:
        dist.destroy_process_group()
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(ray_local, train_corpus, tmp_path_factory):
    """Two Ray workers with 8 docs each per step; one process with 16, with
    the same seed and with another (the seed-to-seed noise)."""
    logs = tmp_path_factory.mktemp("ray_train_logs")
    two = train(
        train_corpus / "config.cfg", logs / "two", num_workers=2,
        overrides=corpus_overrides(train_corpus, 8), step_callback=digest_recorder(logs),
    )
    one = train_in_process(train_corpus, logs / "one", 16)
    reseeded = train_in_process(train_corpus, logs / "reseeded", 16, seed=1)
    return logs, two, one, reseeded


def test_workers_weights_identical_after_every_step(runs):
    logs, two, _, _ = runs
    rank0, rank1 = read_log(logs / "rank0.jsonl"), read_log(logs / "rank1.jsonl")
    assert len(rank0) == len(rank1) == len(two["losses"]) == 13
    for a, b in zip(rank0, rank1):
        assert a["step"] == b["step"] and a["digest"] == b["digest"], a["step"]
    # The weights did change.
    assert len({r["digest"] for r in rank0}) == len(rank0)


def relative(a, b):
    return numpy.abs(numpy.asarray(a) - numpy.asarray(b)) / numpy.asarray(b)


def test_two_workers_train_as_one_process_on_the_global_batch(runs):
    """Different documents land in the same step (two shards of 8 against one
    shuffled batch of 16), and batch-norm normalises over 8 docs: the curves
    agree as closely as two seeds of one process do, or within 5%."""
    logs, two, one, reseeded = runs
    a, b, c = (numpy.asarray(r["losses"]) for r in (two, one, reseeded))
    assert a.shape == b.shape == c.shape and numpy.isfinite(a).all()
    distance, noise = relative(a, b), relative(c, b)
    mean_gap, mean_noise = abs(a.mean() - b.mean()) / b.mean(), abs(c.mean() - b.mean()) / b.mean()
    print(f"loss per step, 2 workers x 8 vs 1 x 16: rel. diff max {distance.max():.3f}, mean {distance.mean():.3f}; "
          f"seed 1 vs seed 0: max {noise.max():.3f}, mean {noise.mean():.3f}; "
          f"mean loss {a.mean():.2f} / {b.mean():.2f} / seed 1 {c.mean():.2f}")
    assert distance.mean() <= max(0.05, noise.mean())
    assert mean_gap <= max(0.03, mean_noise)
    scores = [r["scores"][-1][1] for r in (two, one, reseeded)]
    print("final score: 2 workers {:.4f}, 1 process {:.4f}, 1 process seed 1 {:.4f}".format(*scores))
    assert abs(scores[0] - scores[1]) <= max(0.1, abs(scores[2] - scores[1]))
    for name in ("model-best", "model-last"):
        nlp = spacy.load(logs / "two" / name)
        doc = nlp("The rocket reached orbit and the chef baked bread.")
        assert numpy.isfinite(doc._.latent).all() and abs(float(doc._.topics.sum()) - 1) < 1e-5


def test_one_worker_is_spacy_train(runs, train_corpus, tmp_path):
    """With one worker, the loop (sharding, averaging, state sync) changes
    nothing: the weights equal those of spaCy's own `train`."""
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train as spacy_train

    _, _, one, _ = runs
    config = spacy.util.load_config(train_corpus / "config.cfg", overrides=corpus_overrides(train_corpus, 16), interpolate=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        nlp = init_nlp(config)
        (tmp_path / "spacy").mkdir()
        spacy_train(nlp, tmp_path / "spacy", stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
    finally:
        torch.set_num_threads(threads)
    ours = spacy.load(one["output_path"] + "/model-last")
    theirs = spacy.load(tmp_path / "spacy" / "model-last")
    assert weights_digest(ours) == weights_digest(theirs)


CODE = """
import os
from pathlib import Path
import spacy


@spacy.registry.callbacks("test_ray_marker.v1")
def make_marker():
    def before_update(nlp, info):
        (Path(os.environ["TEXTVAE_TEST_MARKERS"]) / str(os.getpid())).touch()
    return before_update
"""


def test_ray_train_cli(train_corpus, tmp_path):
    """`python -m spacy textvae ray-train` with 2 workers, config overrides and
    --code (imported in each worker): model-best and model-last in --output,
    nothing in ~/ray_results."""
    home = tmp_path / "home"
    home.mkdir()
    markers = tmp_path / "markers"
    markers.mkdir()
    (tmp_path / "code.py").write_text(CODE, encoding="utf8")
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "spacy", "textvae", "ray-train", str(train_corpus / "config.cfg"),
        "--num-workers", "2", "--output", str(out),
        "--paths.train", str(train_corpus / "train.spacy"), "--paths.dev", str(train_corpus / "dev.spacy"),
        "--training.max_steps", "4", "--training.eval_frequency", "2", "--components.textvae.n_topics", "5",
        "--code", str(tmp_path / "code.py"), "--training.before_update", '{"@callbacks": "test_ray_marker.v1"}',
    ]
    env = {**os.environ, "HOME": str(home), "OMP_NUM_THREADS": "1", "TEXTVAE_TEST_MARKERS": str(markers)}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for name in ("model-best", "model-last"):
        nlp = spacy.load(out / name)
        assert nlp("The striker scored a goal.")._.topics.shape == (5,)
    assert nlp.get_pipe("textvae").cfg["step"] in (4, 5)
    assert not (home / "ray_results").exists()
    # Both workers imported the code and ran its callback.
    assert len(list(markers.iterdir())) == 2


def test_a_workers_error_says_what_to_fix():
    """A TextVAEError in a worker, which Ray wraps with its traceback, reaches
    the caller as a TextVAEError with the worker's message."""
    from spacy_textvae.errors import TextVAEError
    from spacy_textvae.ray.train import _user_error

    wrapped = RuntimeError(
        "Training failed due to worker errors:\n[Rank 0,1 Error Snippet]:\nTraceback (most recent call last):\n"
        "  File \"train.py\", line 1, in training_loop\n"
        "spacy_textvae.errors.TextVAEError: [textvae] The training corpus has 1 docs, fewer than the 2 workers: use fewer workers.\n"
    )
    error = _user_error(wrapped)
    assert isinstance(error, TextVAEError)
    assert str(error) == "[textvae] The training corpus has 1 docs, fewer than the 2 workers: use fewer workers."
    other = ValueError("something else")
    assert _user_error(other) is other
