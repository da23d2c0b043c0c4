"""A packaged pipeline installs in a fresh environment, offline: `spacy
package`'s wheel plus the plugin's own wheel, built as the project's `package`
step builds them (`spacy textvae wheels`), go into a new venv and load there
by package name, with spacy_textvae imported from the venv, not from here."""
import json
import os
import random
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.training import Example

ROOT = Path(__file__).resolve().parents[2]
NAME = "textvae_pkgtest"
VERSION = "0.0.1"
THEMES = {
    "space": ["rocket", "orbit", "moon", "planet", "astronaut", "telescope", "comet", "satellite"],
    "cooking": ["bread", "oven", "garlic", "sauce", "butter", "pasta", "onion", "recipe"],
}


def tiny_texts(n_per_theme: int = 15, seed: int = 0):
    rng = random.Random(seed)
    texts = []
    for words in THEMES.values():
        for _ in range(n_per_theme):
            picked = rng.sample(words, 5)
            texts.append(f"The {picked[0]} and the {picked[1]} near the {picked[2]}, {picked[3]} and {picked[4]}.")
    rng.shuffle(texts)
    return texts


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """A tiny trained pipeline, packaged, and the folder with both wheels."""
    root = tmp_path_factory.mktemp("packaging")
    texts = tiny_texts()
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={"n_topics": 3, "n_clusters": 3})
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(root / "model")
    (root / "packages").mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run([sys.executable, "-m", "spacy", "package", str(root / "model"), str(root / "packages"),
         "--name", NAME, "--version", VERSION, "--build", "none", "--force"], env=env)
    package_dir = root / "packages" / f"en_{NAME}-{VERSION}"
    # The project's package step: `spacy textvae wheels PACKAGE_DIR --output packages/wheels`.
    run([sys.executable, "-m", "spacy", "textvae", "wheels", str(package_dir), "--output",
         str(root / "packages" / "wheels")], env=env)
    return root, package_dir, root / "packages" / "wheels"


def test_packaged_pipeline_installs_offline_in_a_fresh_venv(wheels):
    root, package_dir, wheel_dir = wheels
    names = sorted(p.name for p in wheel_dir.iterdir())
    pipeline_wheel = wheel_dir / f"en_{NAME}-{VERSION}-py3-none-any.whl"
    (plugin_wheel,) = wheel_dir.glob("spacy_textvae-*.whl")
    assert names == sorted([pipeline_wheel.name, plugin_wheel.name])
    assert not (ROOT / "build").exists()  # the plugin's build left nothing in the source tree
    requirements = srsly.read_json(package_dir / "meta.json")["requirements"]
    (plugin_req,) = [r for r in requirements if r.startswith("spacy-textvae")]

    venv = root / "venv"
    # spaCy, torch and the rest come from this environment; the plugin must not.
    run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_FIND_LINKS")}
    env.update(OMP_NUM_THREADS="1", PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    if sys.prefix != sys.base_prefix:
        # The tests run in a venv themselves, whose packages --system-site-packages
        # does not reach: list them after the new venv's own.
        purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env)
        (Path(purelib.stdout.strip()) / "host_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    pip = [python, "-m", "pip"]
    # The pipeline's requirement on the plugin can be met from the folder alone, offline.
    run(pip + ["install", "--dry-run", "--ignore-installed", "--no-deps", "--no-index", "--find-links",
               str(wheel_dir), plugin_req], env=env, cwd=root)
    run(pip + ["install", "--no-index", "--no-deps", "--force-reinstall", str(plugin_wheel)], env=env, cwd=root)
    run(pip + ["install", "--no-index", "--find-links", str(wheel_dir), str(pipeline_wheel)], env=env, cwd=root)

    outside = root / "elsewhere"  # not the repo, so nothing is imported from the source tree
    outside.mkdir()
    script = textwrap.dedent(
        f"""
        import json, spacy, spacy_textvae
        nlp = spacy.load("en_{NAME}")
        doc = nlp("The rocket reached orbit around the moon.")
        print(json.dumps({{
            "plugin": spacy_textvae.__file__,
            "pipeline": nlp.meta["name"],
            "pipe_names": nlp.pipe_names,
            "topics": [float(x) for x in doc._.topics],
            "cluster": int(doc._.cluster),
        }}))
        """
    )
    result = run([python, "-c", script], env=env, cwd=outside)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    plugin_file = Path(out["plugin"]).resolve()
    assert venv.resolve() in plugin_file.parents, plugin_file
    assert ROOT not in plugin_file.parents
    assert out["pipeline"] == NAME and out["pipe_names"] == ["textvae"]
    assert len(out["topics"]) == 3 and abs(sum(out["topics"]) - 1.0) < 1e-4
    assert 0 <= out["cluster"] < 3
