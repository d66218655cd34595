"""An optional package that is missing, or installed but unusable, gets an error that says which.

Each case hides the package (``sys.modules[name] = None``) or puts a broken one first on the
path, as a too-old release does (h5py 3.10 under numpy 2 raises ``ValueError: numpy.dtype size
changed`` at import). The integrations' own cases are in ``test_integration_imports.py``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from mmnoise.datasets import iemocap
from mmnoise.extras import extra_import_error, import_extra, optional_import
from mmnoise.merc.export import export_mmin_h5
from mmnoise.preview import render_preview
from mmnoise.robustness import save_heatmap

ABI = "numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header"


def _broken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, package: str) -> None:
    """Put a ``package`` whose import raises the numpy ABI ``ValueError`` first on the path."""
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text(f"raise ValueError({ABI!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def _hidden(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)  # import name -> ModuleNotFoundError


def test_import_extra_returns_the_module_and_names_a_missing_one() -> None:
    assert import_extra("json", who="demo", extra="x").__name__ == "json"
    with pytest.raises(ImportError) as info:
        import_extra("not_a_package_xyz.sub", who="demo: a step", extra="x", instead="skip it")
    assert str(info.value) == ("demo: a step needs not_a_package_xyz, which is not installed; "
                               "install it with `pip install 'mmnoise[x]'` (or skip it).")  # fmt: skip
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_a_missing_module_inside_an_installed_package_is_not_called_missing() -> None:
    # the package is there, one of ITS imports is not: that is an unusable package
    err = ModuleNotFoundError("No module named 'pkg_resources'", name="pkg_resources")
    msg = str(extra_import_error("m", "x", ("lightning",), err))
    assert msg == ("m cannot use the installed lightning (ModuleNotFoundError: No module named "
                   "'pkg_resources'); upgrade it with `pip install -U lightning`.")  # fmt: skip


def test_a_broken_h5py_asks_to_upgrade_it_in_both_readers_and_writers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _broken(monkeypatch, tmp_path, "h5py")
    with pytest.raises(ImportError) as read:
        iemocap._import_h5py()
    assert str(read.value) == (
        "MMINFeatures: reading the MMIN / IF-MMIN / NMER feature files cannot use the installed "
        f"h5py (ValueError: {ABI}); upgrade it with `pip install -U h5py`."
    )
    with pytest.raises(ImportError) as write:
        export_mmin_h5([], tmp_path / "out")
    assert str(write.value).startswith("export_mmin_h5: writing the MMIN h5 layout cannot use "
                                       f"the installed h5py (ValueError: {ABI})")  # fmt: skip
    assert str(write.value).endswith("`pip install -U h5py` (or export --layout mmsa-pkl).")
    assert isinstance(write.value.__cause__, ValueError)
    assert not (tmp_path / "out").exists()  # nothing written before the import failed


def test_a_missing_h5py_asks_to_install_the_data_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hidden(monkeypatch, "h5py")
    with pytest.raises(ImportError, match=r"needs h5py, which is not installed; install it with "
                       r"`pip install 'mmnoise\[data\]'`\.$"):  # fmt: skip
        iemocap._import_h5py()


@pytest.mark.parametrize("broken", [False, True], ids=["missing", "broken"])
def test_matplotlib_missing_or_broken_is_named_by_every_plot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, broken: bool
) -> None:
    if broken:
        _broken(monkeypatch, tmp_path, "matplotlib")
        tail = f"cannot use the installed matplotlib (ValueError: {ABI}); upgrade it with " \
            "`pip install -U matplotlib`"  # fmt: skip
    else:
        for name in [m for m in sys.modules if m.startswith("matplotlib.")]:
            monkeypatch.delitem(sys.modules, name)
        _hidden(monkeypatch, "matplotlib")
        tail = "needs matplotlib, which is not installed; install it with `pip install " \
            "'mmnoise[plot]'`"  # fmt: skip
    with pytest.raises(ImportError) as heat:
        save_heatmap({}, tmp_path / "h.png")
    assert str(heat.value) == f"save_heatmap: drawing the heatmap {tail} (or use to_markdown / to_json)."
    with pytest.raises(ImportError) as grid:
        render_preview("tokens", tmp_path / "p.png")
    assert str(grid.value) == f"mmnoise preview: drawing the grid {tail}."
    assert not (tmp_path / "h.png").exists() and not (tmp_path / "p.png").exists()


def test_write_report_without_matplotlib_warns_what_it_skips(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mmnoise.merc import report

    _broken(monkeypatch, tmp_path, "matplotlib")
    sc = {"families": {"impulse": {}}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert report._plots(sc, tmp_path, "t") == []
    (w,) = caught
    assert str(w.message).startswith("write_report: drawing curves.png and heatmap.png cannot "
                                     "use the installed matplotlib (ValueError: ")  # fmt: skip
    assert str(w.message).endswith("The report is written without them.")


def test_an_optional_package_that_is_missing_is_silently_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _hidden(monkeypatch, "cv2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: not installed is the documented fallback
        assert optional_import("cv2", without="the torch path") is None


def test_an_optional_package_whose_own_dependency_is_missing_warns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "fancybar").mkdir()
    (tmp_path / "fancybar" / "__init__.py").write_text("import pkg_resources\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _hidden(monkeypatch, "pkg_resources")
    with pytest.warns(RuntimeWarning, match=r"^fancybar is installed but cannot be imported "
                      r"\(ModuleNotFoundError: .*pkg_resources.*\); mmnoise goes on without it "
                      r"\(no bar\)\."):  # fmt: skip
        assert optional_import("fancybar", without="no bar") is None


def test_a_broken_opencv_warns_and_uint8_frames_take_the_torch_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import torch

    from mmnoise.functional import frames as F

    x = torch.arange(2 * 2 * 3 * 4 * 4, dtype=torch.uint8).reshape(2, 2, 3, 4, 4) * 3
    delta = torch.tensor([0.3, -0.2])
    want = F.brightness(x, delta=delta)  # whichever path this environment takes
    _broken(monkeypatch, tmp_path, "cv2")
    F._opencv.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match=r"^cv2 is installed but cannot be imported "
                          r"\(ValueError: numpy\.dtype size changed.*uint8 frame ops take their "
                          r"torch paths"):  # fmt: skip
            got = F.brightness(x, delta=delta)
        assert F._opencv() is None  # looked up once: no second warning, no second import
    finally:
        F._opencv.cache_clear()  # the next caller finds the real OpenCV again
    assert torch.equal(got, want)
