"""The documentation keeps its promises: docstrings, API coverage, snippets, runnable code.

``make docs-build`` builds the site with ``--strict`` (any warning fails it); these tests check
what the build cannot: every public name is documented in the house style, every public module is
on an API page, every example is included by snippet (never copied), and every Python block of
every docs page and of the README runs as written.

A block that cannot run on its own (it trains for minutes, or shows one line of a larger
program) is marked as a fragment by an HTML comment on the line right before its fence::

    <!-- fragment: why it does not run as written -->
    ```python
    ...
    ```

Fragments must still compile; snippet includes (``--8<-- "examples/..."``) are run by
tests/test_examples.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

import mmnoise
import reference_models
from mmnoise.transforms.base import NoiseTransform

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Public names whose docstrings do not meet the house style yet, by "module.name". Entries are
# owned by the modules' authors: remove one when its docstring is fixed. A name missing here
# that breaks the style fails the test.
KNOWN_OFFENDERS: dict[str, str] = {
    "mmnoise.robustness.save_heatmap": "no Example",
    "mmnoise.transforms.base.NoiseTransform": "no Example",
    "mmnoise.functional.diffusion.alpha_bar": "no Shape:, no Args:",
    "mmnoise.preview.PreviewGrid": "no Example",
    "mmnoise.preview.render_preview": "no Example",
}


def public_modules(package: ModuleType = mmnoise) -> list[ModuleType]:
    """Import a package and its public submodules (no ``_private`` parts, no ``__main__``)."""
    names = [package.__name__] + [
        m.name
        for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
        if not any(part.startswith("_") for part in m.name.split("."))
    ]
    return [importlib.import_module(n) for n in names]


def public_objects(package: ModuleType = mmnoise) -> dict[str, object]:
    """Every class and function named in a module's ``__all__``, by its defining path."""
    found: dict[str, object] = {}
    for mod in public_modules(package):
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == mod.__name__:
                found[f"{mod.__name__}.{name}"] = obj
    return found


def style_problems(path: str, obj: object) -> list[str]:
    """What the docstring of ``obj`` lacks against the house style (empty: nothing)."""
    doc = obj.__doc__ or ""  # the object's own docstring, not an inherited one
    if not doc.strip():
        return ["no docstring"]
    problems = []
    if not re.search(r"^\s*Examples?:\s*$", doc, re.MULTILINE) or ">>>" not in doc:
        problems.append("no Example")
    module = path.rsplit(".", 1)[0]
    is_kernel = inspect.isfunction(obj) and module.startswith("mmnoise.functional.")
    is_transform = (
        inspect.isclass(obj)
        and issubclass(obj, NoiseTransform)
        and module.startswith("mmnoise.transforms.")
        and module not in ("mmnoise.transforms.base", "mmnoise.transforms.compose")
    )
    if is_kernel or is_transform:
        problems += [f"no {s}" for s in ("Shape:", "Args:") if s not in doc]
    if is_transform and "level" not in doc.lower():
        problems.append("no level mapping")
    return problems


def test_public_names_follow_the_docstring_style() -> None:
    objects = public_objects()
    assert len(objects) > 50  # the walk found the package (guards against an empty sweep)
    offenders = {p: ", ".join(pr) for p, obj in objects.items() if (pr := style_problems(p, obj))}
    new = {p: why for p, why in offenders.items() if p not in KNOWN_OFFENDERS}
    assert not new, f"public names without a house-style docstring: {new}"


def test_known_offenders_still_exist() -> None:
    objects = public_objects()
    assert set(KNOWN_OFFENDERS) <= set(objects), set(KNOWN_OFFENDERS) - set(objects)


def test_style_check_catches_a_bad_docstring() -> None:
    def kernel(x: int) -> int:
        """Do it."""
        return x

    assert style_problems("mmnoise.functional.fake.kernel", kernel) == [
        "no Example",
        "no Shape:",
        "no Args:",
    ]


def api_directives() -> set[str]:
    """The identifiers of every ``::: target`` line on the API pages."""
    targets = set()
    for page in (DOCS / "api").glob("*.md"):
        targets |= set(re.findall(r"^::: *([\w.]+)", page.read_text(), re.MULTILINE))
    return targets


def test_api_reference_covers_every_public_name() -> None:
    targets = api_directives()
    objects = {**public_objects(mmnoise), **public_objects(reference_models)}
    missing = [
        path for path in objects if path not in targets and path.rsplit(".", 1)[0] not in targets
    ]
    assert not missing, f"public names on no API page (add a ::: line in docs/api/): {missing}"


def test_api_directives_name_real_modules() -> None:
    for target in api_directives():
        module = target if importlib.util.find_spec(target.split(".")[0]) else None
        assert module is not None, target
        parts = target.split(".")
        # the longest importable prefix must hold the rest as attributes
        for cut in range(len(parts), 0, -1):
            try:
                obj: object = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            break
        else:
            pytest.fail(f"::: {target} names nothing importable")


def test_every_example_is_included_by_snippet_not_copied() -> None:
    pages = {p: p.read_text() for p in DOCS.rglob("*.md")}
    flat = {
        p: "\n".join(ln.strip() for ln in t.splitlines() if ln.strip()) for p, t in pages.items()
    }
    for example in sorted((ROOT / "examples").glob("[0-9][0-9]_*.py")):
        rel = f"examples/{example.name}"
        assert any(f'--8<-- "{rel}' in text for text in pages.values()), f"{rel} on no page"
        # no three consecutive lines of the example may appear in a page outside a snippet
        lines = [ln.strip() for ln in example.read_text().splitlines() if ln.strip()]
        for i in range(len(lines) - 2):
            window = "\n".join(lines[i : i + 3])
            if len(window) < 60 or window.startswith(("#", '"""')):
                continue
            for page, text in flat.items():
                assert window not in text, f"{page.name} copies {rel}:\n{window}"


FRAGMENT = re.compile(r"<!--\s*fragment:[^>]*-->\s*$")


def python_blocks(text: str, *, fragments: bool = True) -> list[str]:
    """The fenced ```python blocks of a Markdown page, minus snippet includes.

    With ``fragments=False``, blocks marked ``<!-- fragment: ... -->`` are left out too.
    """
    blocks = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if m.group(1).lstrip().startswith("--8<--"):
            continue
        if fragments or not FRAGMENT.search(before):
            blocks.append(m.group(1))
    return blocks


# every page with Python, relative to the repository root: docs pages and the README
CODE_PAGES = sorted(
    p.relative_to(ROOT).as_posix()
    for p in [*DOCS.rglob("*.md"), ROOT / "README.md"]
    if python_blocks(p.read_text(), fragments=False)
)


def test_fragment_marker_is_recognised() -> None:
    text = "<!-- fragment: part of a loop -->\n```python\nstep()\n```\n```python\nx = 1\n```\n"
    assert python_blocks(text) == ["step()\n", "x = 1\n"]
    assert python_blocks(text, fragments=False) == ["x = 1\n"]
    assert "README.md" in CODE_PAGES and "docs/concepts/levels.md" in CODE_PAGES


@pytest.mark.parametrize("page", CODE_PAGES)
def test_python_blocks_on_the_page_run(
    page: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a page may define transforms of its own (concepts/custom-transform.md): they register
    # for from_config while it runs, and leave the registry as the package made it afterwards
    from mmnoise.config import TRANSFORMS

    monkeypatch.setattr(TRANSFORMS, "_classes", TRANSFORMS.classes())
    blocks = python_blocks((ROOT / page).read_text(), fragments=False)
    # the page runs as a module of its own, as a reader's script does: torch.compile (dynamo
    # in torch 2.6) looks the globals of a compiled function's module up in sys.modules
    page_module = ModuleType(f"docs_{page}")
    monkeypatch.setitem(sys.modules, page_module.__name__, page_module)
    for block in blocks:
        exec(compile(block, page, "exec"), page_module.__dict__)


def test_house_style_extension_rewrites_roles_and_examples() -> None:
    house = load_docs_script("_griffe_house_style.py")
    text = "See :class:`~mmnoise.data.BatchNoise` and :func:`pad_collate`.\n\n    Example:\n"
    assert house.adapt(text) == "See `BatchNoise` and `pad_collate`.\n\n    Examples:\n"


def load_docs_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.replace("/", "_"), DOCS / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gallery_tables_are_up_to_date() -> None:
    gallery = load_docs_script("gallery/make_gallery.py")
    for kind in gallery.KINDS:
        committed = (DOCS / "gallery" / f"{kind}.md").read_text()
        assert committed == gallery.table(kind), (
            f"docs/gallery/{kind}.md is stale: run python docs/gallery/make_gallery.py"
        )
        assert (DOCS / "gallery" / f"{kind}.png").stat().st_size > 0


def test_gallery_names_every_public_transform() -> None:
    from mmnoise.transforms import registered_transforms

    text = (DOCS / "gallery.md").read_text()
    text += "".join(p.read_text() for p in (DOCS / "gallery").glob("*.md"))
    public = {n for n in registered_transforms() if not n.startswith("_")}
    missing = sorted(n for n in public if f"`{n}`" not in text)
    assert not missing, f"transforms missing from the gallery: {missing}"
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (DOCS / "gallery.md").read_text()):
        assert (DOCS / image).is_file(), image


def test_every_python_block_in_the_docs_compiles() -> None:
    for page in sorted([*DOCS.rglob("*.md"), ROOT / "README.md"]):
        for block in python_blocks(page.read_text()):
            compile(block, str(page), "exec")


def test_readme_links_resolve_from_the_repository_root() -> None:
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert local, "the README links to the docs"
    for link in local:
        assert (ROOT / link).exists(), link
