"""The student runtime stands apart from the instructor's tooling.

A notebook imports ``ae_helpers`` and some of its modules; none of that may load nbgrader or
anything of ``ae_helpers.instructor`` (a Colab student installs the runtime alone, without the
``[instructor]`` extra). Checked in a fresh interpreter that runs every ``ae_helpers`` import
written in a lecture, solution or exercise notebook, plus each runtime module.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys

from ae_helpers.instructor.course import ROOT, notebooks, student_runtime_modules

#: Top-level packages that belong to grading, never to a student's notebook.
GRADING_PACKAGES = ("nbgrader", "nbclient", "nbconvert", "jupyter_client", "ae_helpers.instructor")


def notebook_imports() -> set[str]:
    """Every import statement of ``ae_helpers`` in the course's notebooks, as source lines."""
    found = set()
    for path in notebooks() + sorted(ROOT.glob("exercises/*/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            try:
                tree = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))))
            except SyntaxError:     # a released stub may not parse; its imports are in the solution
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ae_helpers"):
                    found.add(ast.unparse(node))
                elif isinstance(node, ast.Import) and any(a.name.startswith("ae_helpers") for a in node.names):
                    found.add(ast.unparse(node))
    return found


def loaded_after(lines: list[str]) -> list[str]:
    """Names of the modules loaded in a fresh interpreter after running ``lines``."""
    code = "\n".join(lines + ["import sys, json", "print(json.dumps(sorted(sys.modules)))"])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, f"the notebooks' imports fail in a fresh interpreter:\n{out.stderr[-2000:]}"
    return json.loads(out.stdout.splitlines()[-1])


def test_the_notebooks_imports_and_every_runtime_module_load_no_grading_code():
    imports = sorted(notebook_imports())
    assert len(imports) >= 5, f"too few ae_helpers imports found in the notebooks: {imports}"
    modules = [f"import {m}" for m in student_runtime_modules()]
    loaded = loaded_after(imports + modules)
    grading = [m for m in loaded if m.startswith(GRADING_PACKAGES)]
    assert not grading, f"a notebook's imports load grading modules: {grading}"
    assert "ae_helpers.plot" in loaded and "ae_helpers.train" in loaded


def test_the_check_sees_a_runtime_module_that_imports_the_tooling():
    """The check above is not blind: importing the tooling is what it reports."""
    loaded = loaded_after(["import ae_helpers", "import ae_helpers.instructor.preprocessors"])
    assert [m for m in loaded if m.startswith(GRADING_PACKAGES)]


def test_no_runtime_module_refers_to_the_instructor_subpackage():
    """Not even lazily, inside a function: the runtime must work without the [instructor] extra."""
    for name in student_runtime_modules()[1:] + ("ae_helpers",):
        path = ROOT / (name.replace(".", "/") + (".py" if name != "ae_helpers" else "/__init__.py"))
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = ("." * node.level) + (node.module or "")
                assert "instructor" not in target and not target.startswith(".."), \
                    f"{path.relative_to(ROOT)}:{node.lineno} imports {target}"
                assert not (node.module or "").startswith("nbgrader"), f"{path.name}:{node.lineno} imports nbgrader"
