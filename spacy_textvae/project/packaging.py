"""Everything a fresh environment needs to install a packaged pipeline offline.

`spacy package` lists spacy-textvae among the pipeline package's requirements.
Until the plugin is on PyPI, pip can only resolve that requirement from a
folder that holds the plugin's own wheel. `collect_wheels` builds that wheel
from the plugin's source and puts it next to the pipeline's wheel (built
too, when `spacy package` made none), so that

    pip install --no-index --find-links WHEEL_DIR en_<name>

installs both, offline (with spaCy, torch and the other requirements already
there, or in WHEEL_DIR too).
"""
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence, Union

import srsly

from ..errors import TextVAEError

PLUGIN_DIST = "spacy_textvae"
# What a build of the plugin reads, besides the package itself.
BUILD_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "README.md", "MANIFEST.in", "LICENSE", "LICENSE.md")
PACKAGE_DIR = "spacy_textvae"


def plugin_source_dir() -> Optional[Path]:
    """The source folder (with setup.cfg or pyproject.toml) of the spacy_textvae
    that is imported now, or None when it is installed from a wheel.

    RETURNS (Optional[Path]): The folder.
    """
    root = Path(__file__).resolve().parents[2]
    if (root / PACKAGE_DIR).is_dir() and any((root / name).exists() for name in ("setup.cfg", "pyproject.toml")):
        return root
    return None


def _pip_wheel(source: Path, wheel_dir: Path, what: str) -> None:
    """`pip wheel` of a source folder into `wheel_dir`, offline: no index, no
    dependencies, no build isolation (the installed setuptools builds it)."""
    if importlib.util.find_spec("setuptools") is None:
        raise TextVAEError(
            f"Building the {what} wheel needs setuptools, which is not installed. "
            "Install it: pip install 'setuptools>=70.1'."
        )
    cmd = [
        sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
        "--no-index", "--quiet", "--wheel-dir", str(wheel_dir),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise TextVAEError(
            f"Building the {what} wheel failed:\n{result.stdout}{result.stderr}\n"
            "It builds offline with the installed setuptools: install setuptools>=70.1 (or the wheel package)."
        )


def _clean_copy(source: Path, dest: Path, files: Sequence[str], package: str) -> Path:
    """Copy what a build reads into `dest`, without caches or earlier build output."""
    dest.mkdir(parents=True)
    for name in files:
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
    shutil.copytree(
        source / package, dest / package,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    return dest


def build_plugin_wheel(wheel_dir: Union[str, Path], source: Optional[Union[str, Path]] = None) -> Path:
    """Build the plugin's wheel into `wheel_dir`, offline.

    The build runs on a clean copy of the source in a temporary folder, so it
    leaves no build/ or egg-info folder behind, and no file left in build/ by
    an earlier build can slip into the wheel. Older plugin wheels in
    `wheel_dir` are replaced.

    wheel_dir (Union[str, Path]): The folder for the wheel (created if needed).
    source (Optional[Union[str, Path]]): The plugin's source folder; default:
        that of the spacy_textvae imported now.
    RETURNS (Path): The wheel.
    """
    source = Path(source) if source is not None else plugin_source_dir()
    if source is None:
        raise TextVAEError(
            f"Cannot find the source of spacy_textvae (imported from {Path(__file__).parents[1]}, which "
            "has no setup.cfg next to it). Pass --source with the folder of the spacy-textvae source."
        )
    if not (source / PACKAGE_DIR).is_dir() or not any((source / name).exists() for name in BUILD_FILES[:3]):
        raise TextVAEError(
            f"{source} is not the spacy-textvae source: it needs {PACKAGE_DIR}/ and a setup.cfg or "
            "pyproject.toml. Pass --source with the folder of the spacy-textvae source."
        )
    wheel_dir = Path(wheel_dir)
    wheel_dir.mkdir(parents=True, exist_ok=True)
    for old in wheel_dir.glob(f"{PLUGIN_DIST}-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="textvae-build-") as tmp:
        copy = _clean_copy(source, Path(tmp) / "src", BUILD_FILES, PACKAGE_DIR)
        _pip_wheel(copy, wheel_dir, "spacy-textvae")
    wheels = sorted(wheel_dir.glob(f"{PLUGIN_DIST}-*.whl"))
    if len(wheels) != 1:
        raise TextVAEError(
            f"Expected one spacy_textvae wheel in {wheel_dir} after the build, found {len(wheels)}. "
            "Build again into an empty folder."
        )
    return wheels[0]


def build_pipeline_wheel(package_dir: Union[str, Path], wheel_dir: Union[str, Path]) -> Path:
    """Build the wheel of a pipeline package folder made by `spacy package`
    (with `--build none` or otherwise), offline, as `build_plugin_wheel` does.

    package_dir (Union[str, Path]): E.g. packages/en_textvae_demo-0.0.1.
    wheel_dir (Union[str, Path]): The folder for the wheel.
    RETURNS (Path): The wheel.
    """
    package_dir = Path(package_dir)
    meta = srsly.read_json(package_dir / "meta.json")
    name = f"{meta['lang']}_{meta['name']}" if not meta["name"].startswith(f"{meta['lang']}_") else meta["name"]
    wheel_dir = Path(wheel_dir)
    wheel_dir.mkdir(parents=True, exist_ok=True)
    for old in wheel_dir.glob(f"{name}-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="textvae-build-") as tmp:
        files = [p.name for p in package_dir.iterdir() if p.is_file()]
        copy = _clean_copy(package_dir, Path(tmp) / "src", files, name)
        _pip_wheel(copy, wheel_dir, f"{name} pipeline")
    (wheel,) = wheel_dir.glob(f"{name}-{meta['version']}-*.whl")
    return wheel


def collect_wheels(
    package_dir: Optional[Union[str, Path]],
    wheel_dir: Union[str, Path],
    source: Optional[Union[str, Path]] = None,
) -> List[Path]:
    """Put the pipeline package's wheel and the plugin's own wheel into one
    folder, `wheel_dir`. The pipeline's wheel is copied from `package_dir`/dist
    when `spacy package --build wheel` made one, and built here otherwise.

    package_dir (Optional[Union[str, Path]]): The folder `spacy package` made
        for the pipeline, e.g. packages/en_textvae_demo-0.0.1; None: only the
        plugin's wheel.
    wheel_dir (Union[str, Path]): The one folder to install from.
    source (Optional[Union[str, Path]]): The plugin's source folder (see
        `build_plugin_wheel`).
    RETURNS (List[Path]): The pipeline's wheel (if any), then the plugin's.
    """
    wheel_dir = Path(wheel_dir)
    found = []
    if package_dir is not None:
        package_dir = Path(package_dir)
        if not (package_dir / "meta.json").exists():
            raise TextVAEError(
                f"{package_dir} is not a pipeline package folder (no meta.json). Run `spacy package` "
                "first and pass the folder it made, e.g. packages/en_textvae_demo-0.0.1."
            )
        built = sorted((package_dir / "dist").glob("*.whl"))
        if built:
            wheel_dir.mkdir(parents=True, exist_ok=True)
            found.append(Path(shutil.copy2(built[-1], wheel_dir / built[-1].name)))
        else:
            found.append(build_pipeline_wheel(package_dir, wheel_dir))
    return found + [build_plugin_wheel(wheel_dir, source)]
