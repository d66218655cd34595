"""A plain ``pip install`` works: package metadata, and the wheel in a fresh venv without extras.

The install check builds the wheel from a copy of the tree, creates a fresh venv, installs the
wheel there with ``--no-deps`` and exposes exactly the runtime dependency closure (the
distributions ``[project] dependencies`` need, resolved with ``importlib.metadata`` from this
environment) by linking their top-level files into the venv's site-packages. Installing torch
afresh would cost minutes and gigabytes for the same bits; linking keeps the check a few seconds
while still proving that nothing outside the runtime closure is imported. Inside the venv it
asserts the extras are absent, imports every public module of ``mmnoise`` and
``reference_models`` (the optional integrations must fail with an "install mmnoise[x]" message),
and runs the README snippet.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import mmnoise

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

# modules that only an extra provides, and the extra that names them
OPTIONAL_MODULES = {
    "tqdm": "models",
    "matplotlib": "plot",
    "h5py": "data",
    "lightning": "lightning",
    "transformers": "hf",
    "accelerate": "hf",
    "pytest": "test",
    "mkdocs": "docs",
}


def test_metadata_is_single_sourced_and_spdx() -> None:
    assert PROJECT["license"] == "MIT"
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "mmnoise.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+", mmnoise.__version__)
    assert not any(c.startswith("License ::") for c in PROJECT["classifiers"])
    assert {"Homepage", "Repository", "Documentation"} <= set(PROJECT["urls"])
    requires = PYPROJECT["build-system"]["requires"]
    assert any(r.startswith("setuptools>=") and int(r.split(">=")[1]) >= 77 for r in requires)
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    for key in ("cff-version", "message", "title", "authors", "license"):
        assert re.search(rf"^{key}:", cff, re.MULTILINE), key
    assert f'version: "{mmnoise.__version__}"' in cff


def test_extras_are_named_and_dev_means_everything() -> None:
    assert {"models", "plot", "data", "docs", "test", "bench", "lightning", "hf", "all"} <= set(
        EXTRAS
    )
    runtime = {Requirement(r).name for r in PROJECT["dependencies"]}
    for module, extra in OPTIONAL_MODULES.items():
        names = {Requirement(r).name for r in EXTRAS[extra]}
        assert module in names or f"{module}-material" in names, (module, extra)
        assert module not in runtime
    (dev,) = EXTRAS["dev"]
    assert set(Requirement(dev).extras) == {"all", "test", "docs"}
    (everything,) = EXTRAS["all"]
    assert set(Requirement(everything).extras) == {"models", "plot", "data", "lightning", "hf"}


def runtime_closure(requirements: list[str]) -> set[str]:
    """The installed distributions that ``requirements`` need, transitively (extras honoured)."""
    env = {k: str(v) for k, v in default_environment().items()}
    seen: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        dist = metadata.distribution(req.name)
        name = canonicalize_name(dist.metadata["Name"])
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for sub in dist.requires or []:
            todo += [(Requirement(sub), e) for e in ("", *sorted(req.extras))]
    return {k.split("[")[0] for k in seen}


def link_distributions(names: set[str], site: Path) -> None:
    """Link every top-level file or folder of the distributions ``names`` into ``site``."""
    for name in sorted(names):
        dist = metadata.distribution(name)
        for top in sorted(
            {Path(f).parts[0] for f in dist.files or [] if ".." not in Path(f).parts}
        ):
            target, link = Path(str(dist.locate_file(top))), site / top
            if target.exists() and not link.exists():
                link.symlink_to(target)


CHECK = """
import importlib, importlib.util, json, pkgutil, re, sys
from importlib import metadata
optional, readme = json.loads(sys.argv[1]), sys.argv[2]
present = [m for m in optional if importlib.util.find_spec(m) is not None]
assert not present, f"extras leaked into the fresh venv: {present}"
import mmnoise, reference_models
assert metadata.version("mmnoise") == mmnoise.__version__
imported, gated = [], {}
for pkg in (mmnoise, reference_models):
    names = [pkg.__name__] + [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    for name in names:
        if any(p.startswith("_") for p in name.split(".")):
            continue
        try:
            importlib.import_module(name)
            imported.append(name)
        except ImportError as e:
            gated[name] = str(e)
from mmnoise import preview
from mmnoise.datasets import iemocap
for need, extra in ((preview._matplotlib, "plot"), (iemocap._import_h5py, "data")):
    try:
        need()
    except ImportError as e:
        assert f"mmnoise[{extra}]" in str(e), str(e)
    else:
        raise AssertionError(f"{need.__name__} worked without the {extra} extra")
block = re.search(r"^```python\\n(.*?)^```", open(readme).read(), re.MULTILINE | re.DOTALL)
exec(compile(block.group(1), "README.md", "exec"), {"__name__": "readme"})
print(json.dumps({"imported": imported, "gated": gated, "file": mmnoise.__file__}))
"""


def test_wheel_installs_and_runs_without_extras(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for pkg in ("mmnoise", "reference_models"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = subprocess.run(
        [*pip[:-1], "-v", "wheel", "--no-deps", "--no-build-isolation", "-w", "../dist", "."],
        cwd=src,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    log = build.stdout + build.stderr
    assert "running bdist_wheel" in log  # the verbose build log was captured
    # setuptools warnings look like "...BuildBackendWarning: `project.license` as a TOML table
    # is deprecated" (the lower-case "warning: build_py: byte-compiling ..." is not one)
    # (the build lists mmnoise/deprecation.py among the files it copies: not a warning)
    said = "\n".join(line for line in log.lower().splitlines() if "deprecation.py" not in line)
    assert "deprecat" not in said and "Warning:" not in log, log[-3000:]
    (wheel,) = (tmp_path / "dist").glob("mmnoise-*.whl")
    assert f"mmnoise-{mmnoise.__version__}-" in wheel.name

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, symlinks=True)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    closure = runtime_closure(PROJECT["dependencies"])
    assert {"torch", "kornia", "numpy"} <= closure
    assert not closure & {canonicalize_name(m) for m in OPTIONAL_MODULES}
    link_distributions(closure, site)
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True)

    proc = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            CHECK,
            json.dumps(list(OPTIONAL_MODULES)),
            str(ROOT / "README.md"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).is_relative_to(site)  # the wheel, not the checkout
    assert {"mmnoise.transforms", "mmnoise.robustness", "reference_models.train"} <= set(
        result["imported"]
    )
    # only the trainer integrations may need their extra, and they must say which one
    gated = result["gated"]
    assert set(gated) <= {"mmnoise.integrations.lightning", "mmnoise.integrations.hf"}, gated
    for name, message in gated.items():
        extra = name.rsplit(".", 1)[1]
        assert f"mmnoise[{extra}]" in message, message
    # the command lines start without extras too
    for package in ("mmnoise", "reference_models"):
        cli = [str(python), "-I", "-m", package, "--help"]
        done = subprocess.run(cli, cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0 and "usage" in done.stdout.lower(), done.stderr[-2000:]
