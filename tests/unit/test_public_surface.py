"""The student runtime's public surface: ``ae_helpers/__init__.py`` lists what a notebook may call.

- the docstring's table and ``__all__`` name the same things, and each of them exists;
- every lecture and solution notebook imports only from that surface;
- every public function and class of the runtime modules has a docstring and full type hints.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import io
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
from documented import undocumented

import ae_helpers

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ae_helpers"
RUNTIME = ("__init__", "config", "data", "models", "train", "plot", "checks", "claims", "sprites", "signals")
NOTEBOOKS = sorted(ROOT.glob("lectures/*.ipynb")) + sorted(ROOT.glob("solutions/*/*.ipynb"))


def table_names(doc: str) -> list[str]:
    """The names in the first column of the docstring's table (``name(args)`` → ``name``)."""
    rows = re.findall(r"^``(\w+)", doc, flags=re.MULTILINE)
    return rows


def test_the_table_and_all_name_the_same_things():
    assert sorted(table_names(ae_helpers.__doc__)) == sorted(ae_helpers.__all__)
    assert len(set(ae_helpers.__all__)) == len(ae_helpers.__all__)


def test_the_table_is_valid_restructuredtext_with_a_row_per_name():
    docutils_core = pytest.importorskip("docutils.core")      # with sphinx, in .[dev]
    warnings = io.StringIO()
    tree = docutils_core.publish_doctree(ae_helpers.__doc__, settings_overrides={
        "warning_stream": warnings, "report_level": 1})
    assert warnings.getvalue() == ""
    rows = [node for node in tree.findall() if node.tagname == "row"]
    assert len(rows) == 1 + len(ae_helpers.__all__)                   # the header, then one row each


@pytest.mark.parametrize("name", ae_helpers.__all__)
def test_every_listed_name_exists(name):
    value = getattr(ae_helpers, name)
    if name in ae_helpers.MODULES:
        assert isinstance(value, ModuleType) and value.__name__ == f"ae_helpers.{name}"
    else:
        assert callable(value) and inspect.getdoc(value)


@pytest.mark.parametrize("old", ["encode", "reconstruct", "factors"])
def test_old_names_are_gone_not_aliased(old):
    with pytest.raises(AttributeError, match=f"no attribute '{old}'"):
        getattr(ae_helpers, old)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"ae_helpers.{old}")


def public_names(module: ModuleType) -> set[str]:
    return set(getattr(module, "__all__", None) or (n for n in vars(module) if not n.startswith("_")))


def ae_imports(source: str) -> list[tuple[str, str]]:
    """(module, name) for each ``from ae_helpers[.module] import name`` and ``ae_helpers.name``."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ae_helpers"):
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ae_helpers":
            found.append(("ae_helpers", node.attr))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebooks_call_only_the_public_surface(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    wrong = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for module, name in ae_imports("".join(cell["source"])):
            if module == "ae_helpers":
                ok = name in ae_helpers.__all__
            else:
                sub = module.split(".", 1)[1]
                ok = sub in ae_helpers.MODULES and name in public_names(getattr(ae_helpers, sub))
            if not ok:
                wrong.append(f"{module}.{name}")
    assert not wrong, f"{path.name} uses names outside ae_helpers' public surface: {wrong}"


@pytest.mark.parametrize("path", NOTEBOOKS + sorted(ROOT.glob("exercises/*/*.ipynb")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_setup_cell_asks_for_one_thread_in_fast_mode_before_the_device(path):
    """get_device() no longer sets the thread count: fast mode keeps one thread (in notebooks
    and in grading) only because the setup cell asks for it, before the device line is printed."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    setup = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
    assert "set_fast_mode_threads()" in setup and "DEVICE = get_device()" in setup, path.name
    assert setup.index("set_fast_mode_threads()") < setup.index("DEVICE = get_device()"), path.name


@pytest.mark.parametrize("module", RUNTIME)
def test_runtime_modules_document_and_type_every_public_definition(module):
    assert undocumented(PACKAGE / f"{module}.py") == []
