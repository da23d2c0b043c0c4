"""The spaCy project (project.yml): its shape, assets, documentation, and the
`all` workflow run end to end on a tiny corpus with training capped, in a temp
copy of the project, then the `package` step."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import srsly
from weasel.cli.document import project_document
from weasel.schemas import ProjectConfigSchema, validate
from weasel.util import load_project_config

from spacy_textvae.project.demo_corpus import THEMES, write_demo_corpus

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ["preprocess", "train", "evaluate", "topics"]


@pytest.fixture(scope="module")
def project():
    return load_project_config(ROOT)


def commands_of(project):
    return {cmd["name"]: cmd for cmd in project["commands"]}


def test_project_yml_shape(project):
    assert validate(ProjectConfigSchema, srsly.read_yaml(ROOT / "project.yml")) == []
    v = project["vars"]
    assert v["gpu_id"] == -1
    assert (ROOT / "configs" / f"{v['config']}.cfg").exists()
    for key in ("n_topics", "n_clusters", "train_input", "dev_input", "package_name", "package_version"):
        assert key in v
    assert project["workflows"]["all"] == WORKFLOW
    for name in ("demo-corpus", "convert-20ng", "package", *WORKFLOW):
        assert name in commands_of(project)
    assert set(project["directories"]) >= {"assets", "configs", "corpus", "training", "metrics", "packages"}


def test_commands_have_complete_deps_and_outputs(project):
    commands = commands_of(project)
    inputs = {project["vars"]["train_input"], project["vars"]["dev_input"], "spacy_textvae/project/corpus.py"}
    inputs |= {f"configs/{project['vars']['config']}.cfg"}
    produced = set()
    for name in WORKFLOW:
        cmd = commands[name]
        assert cmd["outputs"], f"{name} has no outputs, so it would never be skipped"
        for dep in cmd["deps"]:
            # One path per entry (the config parser can join neighbouring var references).
            assert ", " not in dep, dep
            assert dep in inputs or dep in produced, f"{name}: {dep} is neither an input nor made earlier"
        script = " ".join(cmd["script"])
        for path in cmd["deps"] + cmd["outputs"]:
            if path.endswith(".py"):  # the step's own code
                continue
            assert path.rstrip("/") in script or path.split("/")[0] + "/" in script, (name, path)
        produced |= set(cmd["outputs"])
    train = " ".join(commands["train"]["script"])
    assert "--gpu-id -1" in train and "--components.textvae.n_topics" in train
    assert "--training.max_steps" in train
    for cmd in commands.values():
        assert all(s.startswith("python -m ") for s in cmd["script"]), cmd["name"]


def test_assets(project):
    demo, ng = project["assets"]
    assert demo["dest"] == "assets/demo.jsonl" and "url" not in demo
    assert hashlib.md5((ROOT / demo["dest"]).read_bytes()).hexdigest() == demo["checksum"]
    assert ng["url"] == "http://qwone.com/~jason/20Newsgroups/20news-bydate.tar.gz"
    assert re.fullmatch(r"[0-9a-f]{32}", ng["checksum"])
    assert ng["extra"] is True  # not fetched by a plain `spacy project assets`
    assert commands_of(project)["convert-20ng"]["deps"] == [ng["dest"]]


def test_committed_demo_corpus_is_what_the_project_writes(project, tmp_path):
    """assets/demo.jsonl is exactly what the demo-corpus command regenerates."""
    script = commands_of(project)["demo-corpus"]["script"][0]
    n_docs = int(re.search(r"--n-docs (\d+)", script).group(1))
    seed = int(re.search(r"--seed (\d+)", script).group(1))
    write_demo_corpus(tmp_path / "demo.jsonl", n_docs=n_docs, seed=seed)
    committed = (ROOT / "assets" / "demo.jsonl").read_bytes()
    assert (tmp_path / "demo.jsonl").read_bytes() == committed
    records = [json.loads(line) for line in committed.decode("utf8").splitlines()]
    assert len(records) >= 300
    assert {r["label"] for r in records} == set(THEMES)
    assert all(set(r) == {"id", "text", "label"} for r in records)


def test_project_md_commands_table_in_sync(tmp_path):
    """README.md holds the table `spacy project document` generates."""
    copy = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", copy)
    project_document(ROOT, copy, no_emoji=False)
    assert copy.read_text("utf8") == (ROOT / "README.md").read_text("utf8"), (
        "Regenerate it: python -m spacy project document --output README.md"
    )


# -- the workflow, end to end ----------------------------------------------------------


def run_project(project_dir: Path, *args: str, timeout: int = 300) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", *args],
        cwd=project_dir, env=env, capture_output=True, text=True, timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    """A temp copy of the project after `spacy project run all` on 60 demo
    docs with training capped at 10 steps."""
    tmp = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "project.yml", tmp / "project.yml")
    shutil.copytree(ROOT / "configs", tmp / "configs")
    (tmp / "assets").mkdir()
    shutil.copy(ROOT / "assets" / "demo.jsonl", tmp / "assets" / "demo.jsonl")
    shutil.copytree(ROOT / "spacy_textvae", tmp / "spacy_textvae", ignore=shutil.ignore_patterns("__pycache__"))
    args = ["--vars.limit", "60", "--vars.max_steps", "10", "--vars.eval_frequency", "5"]
    output = run_project(tmp, "all", ".", *args)
    return tmp, args, output


@pytest.mark.slow  # ~45 s on 2 cores; not skipped: CI runs it
def test_workflow_all_end_to_end(workflow_run):
    tmp, _, output = workflow_run
    for path in ("corpus/train.spacy", "corpus/dev.spacy", "training/model-best", "training/model-last",
                 "metrics/scores.json", "metrics/topics.json", "project.lock"):
        assert (tmp / path).exists(), path
    scores = srsly.read_json(tmp / "metrics" / "scores.json")
    for key in ("textvae_npmi", "textvae_diversity", "textvae_perplexity", "textvae_cluster_nmi"):
        assert key in scores
    topics = srsly.read_json(tmp / "metrics" / "topics.json")
    assert len(topics["topics"]) == 8  # vars.n_topics
    assert sum(t["size"] for t in topics["topics"]) == topics["n_docs"]
    assert " ".join(topics["topics"][0]["words"]) in output  # the table is printed
    assert "Wrote" in output and "training docs" in output


@pytest.mark.slow
def test_workflow_rerun_skips_finished_steps(workflow_run):
    tmp, args, _ = workflow_run
    output = run_project(tmp, "all", ".", *args)
    for step in WORKFLOW:
        assert f"Skipping '{step}': nothing changed" in output


@pytest.mark.slow
def test_package_meta_requires_this_plugin(workflow_run):
    tmp, _, _ = workflow_run
    run_project(tmp, "package", ".", "--vars.package_build", "none")
    project = load_project_config(tmp)
    (out_dir,) = commands_of(project)["package"]["outputs"]
    pkg = tmp / out_dir
    meta = srsly.read_json(pkg / "meta.json")
    names = [re.split(r"[<>=!~ ]", req)[0] for req in meta["requirements"]]
    assert "spacy-textvae" in names
    assert meta["name"] == project["vars"]["package_name"]
    assert meta["version"] == project["vars"]["package_version"]
    assert "textvae" in meta["pipeline"]
    assert "install_requires=list_requirements(meta)" in (pkg / "setup.py").read_text("utf8")
