"""Importing an integration without its extra, or with a release too old for it, says which.

Each case runs in a fresh interpreter with the extra's packages hidden or faked, so the test
needs no extra installed and leaves this process's modules alone.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# a transformers from before 4.41: the Trainer classes, but no trainer_callback.ExportableState
OLD_TRANSFORMERS = """
import sys, types
t = types.ModuleType("transformers"); t.__path__ = []
for name in ("Trainer", "TrainerCallback", "TrainerControl", "TrainerState", "TrainingArguments"):
    setattr(t, name, type(name, (), {}))
sys.modules["transformers"] = t
sys.modules["transformers.trainer_callback"] = types.ModuleType("transformers.trainer_callback")
"""


def _import_error(setup: str, module: str, tmp_path: Path) -> str:
    code = textwrap.dedent(setup) + f"\ntry:\n    import {module}\nexcept ImportError as e:\n    print(e)\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("module", "hidden", "expected"),
    [
        ("hf", ("transformers",), "needs transformers and accelerate, which are not installed; "
         "install them with `pip install 'mmnoise[hf]'`."),
        ("lightning", ("lightning", "pytorch_lightning"), "needs lightning, which is not "
         "installed; install it with `pip install 'mmnoise[lightning]'`."),
    ],
)  # fmt: skip
def test_a_missing_extra_asks_to_install_it(
    tmp_path: Path, module: str, hidden: tuple[str, ...], expected: str
) -> None:
    setup = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in hidden)
    msg = _import_error(setup, f"mmnoise.integrations.{module}", tmp_path)
    assert msg == f"mmnoise.integrations.{module} {expected}"


def test_hf_with_a_transformers_too_old_asks_to_upgrade_and_says_what_lacks(tmp_path: Path) -> None:
    msg = _import_error(OLD_TRANSFORMERS, "mmnoise.integrations.hf", tmp_path)
    assert msg.startswith("mmnoise.integrations.hf cannot use the installed transformers")
    assert "ExportableState" in msg
    assert msg.endswith("; upgrade them with `pip install -U transformers accelerate`.")


@pytest.mark.parametrize("standalone", [False, True])
def test_a_lightning_that_cannot_import_reports_its_own_error(
    tmp_path: Path, standalone: bool
) -> None:
    # Lightning 2.2 - 2.3 import pkg_resources, which setuptools 81+ no longer ships; whether
    # or not pytorch_lightning is there to fall back on, lightning's own error is the one shown
    (tmp_path / "lightning").mkdir()
    (tmp_path / "lightning" / "__init__.py").write_text("import pkg_resources\n")
    setup = "import sys\nsys.modules['pkg_resources'] = None\n"
    if not standalone:
        setup += "sys.modules['pytorch_lightning'] = None\n"
    else:  # a pytorch_lightning that is just as broken
        (tmp_path / "pytorch_lightning").mkdir()
        (tmp_path / "pytorch_lightning" / "__init__.py").write_text("import pkg_resources\n")
    msg = _import_error(setup, "mmnoise.integrations.lightning", tmp_path)
    assert msg.startswith("mmnoise.integrations.lightning cannot use the installed lightning (")
    assert "pkg_resources" in msg and msg.endswith("; upgrade it with `pip install -U lightning`.")
