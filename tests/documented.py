"""Shared test helper: which public definitions of a module lack a docstring or type hints.

Used by ``tests/unit/test_public_surface.py`` (the student runtime) and
``tests/packaging/test_tooling_docs.py`` (the instructor tooling): ``from documented import
undocumented`` (``tests/`` is on pytest's pythonpath).
"""
from __future__ import annotations

import ast
from pathlib import Path


def undocumented(path: Path) -> list[str]:
    """Public functions/classes (and public methods of public classes) of the module at ``path``
    without a docstring or without a type hint on an argument or the return, as
    ``"name: no docstring"`` / ``"name: hints incomplete"``; ``[]`` when all are complete."""
    missing = []
    for node in ast.parse(Path(path).read_text(encoding="utf-8")).body:
        items = [node]
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            items += [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for item in items:
            if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or item.name.startswith("_"):
                continue
            if not ast.get_docstring(item):
                missing.append(f"{item.name}: no docstring")
            if not isinstance(item, ast.ClassDef):
                args = [a for a in item.args.posonlyargs + item.args.args + item.args.kwonlyargs
                        if a.arg not in ("self", "cls")]
                if item.returns is None or any(a.annotation is None for a in args):
                    missing.append(f"{item.name}: hints incomplete")
    return missing
