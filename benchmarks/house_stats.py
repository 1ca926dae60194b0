"""The shape of the package: the student runtime against the instructor's tooling.

    python benchmarks/house_stats.py [--json FILE] [REPO]

Prints, for ``ae_helpers`` (the runtime: its top-level modules) and ``ae_helpers/instructor``
(the tooling): modules and lines; public definitions and how many lack a docstring or full type
hints; function lengths (median, 90th percentile, longest) over both. Run it on an older checkout
(REPO) to compare: modules that were flat then count as tooling when their name is one that
moved into ``instructor/`` (``OLD_TOOLING``).
"""
from __future__ import annotations

import argparse
import ast
import json
import statistics
from pathlib import Path

#: Tooling modules as they were named before the split into ``ae_helpers/instructor/``.
OLD_TOOLING = {"grading", "kernel_guard", "sanitize", "parallel_grading", "instructor", "doctor", "report",
               "course", "sandbox", "zygote"}


def group_of(path: Path, package: Path) -> str:
    """'tooling' for a module of ``instructor/`` (or an old flat tooling module), else 'runtime'."""
    rel = path.relative_to(package)
    flat_tool = len(rel.parts) == 1 and path.stem in OLD_TOOLING
    return "tooling" if rel.parts[0] == "instructor" and len(rel.parts) > 1 or flat_tool else "runtime"


def _public(tree: ast.Module) -> list[ast.AST]:
    """Module-level public functions and classes, and the public methods of public classes."""
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            out.append(node)
            if isinstance(node, ast.ClassDef):
                out += [m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and not m.name.startswith("_")]
    return out


def _fully_hinted(fn: ast.FunctionDef) -> bool:
    args = [a for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs if a.arg not in ("self", "cls")]
    return fn.returns is not None and all(a.annotation is not None for a in args)


def module_stats(path: Path) -> dict:
    """Lines, public definitions (without docstring / without full hints) and function lengths."""
    text = path.read_text()
    tree = ast.parse(text)
    public = _public(tree)
    return {"lines": len(text.splitlines()), "public": len(public),
            "no_docstring": [n.name for n in public if not ast.get_docstring(n)],
            "no_hints": [n.name for n in public if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                         and not _fully_hinted(n)],
            "lengths": [n.end_lineno - n.lineno + 1 for n in ast.walk(tree)
                        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]}


def house_stats(repo: Path) -> dict:
    """Per group ('runtime', 'tooling'): modules, lines, public definitions and what they lack;
    and function lengths over the whole package."""
    package = repo / "ae_helpers"
    groups = {g: {"modules": 0, "lines": 0, "public": 0, "no_docstring": [], "no_hints": []}
              for g in ("runtime", "tooling")}
    lengths = []
    for path in sorted(package.rglob("*.py")):
        stats, group = module_stats(path), groups[group_of(path, package)]
        group["modules"] += 1
        for key in ("lines", "public"):
            group[key] += stats[key]
        for key in ("no_docstring", "no_hints"):
            group[key] += [f"{path.relative_to(package)}:{name}" for name in stats[key]]
        lengths += stats["lengths"]
    lengths.sort()
    return {"groups": groups, "functions": {"count": len(lengths), "median": statistics.median(lengths),
                                            "p90": lengths[int(0.9 * (len(lengths) - 1))], "max": lengths[-1]}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    stats = house_stats(args.repo)
    print(f"{'group':<8} {'modules':>7} {'lines':>6} {'public':>6} {'no docstring':>12} {'no full hints':>13}")
    for name, g in stats["groups"].items():
        print(f"{name:<8} {g['modules']:>7} {g['lines']:>6} {g['public']:>6} {len(g['no_docstring']):>12} "
              f"{len(g['no_hints']):>13}")
    f = stats["functions"]
    print(f"functions: {f['count']}, length median {f['median']:g}, p90 {f['p90']}, max {f['max']} lines")
    if args.json:
        args.json.write_text(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
