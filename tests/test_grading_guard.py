"""GuardedExecute, the executor autograde uses, against submissions that switch tests off.

Each attack below is a student answer cell followed by a locked test cell that must fail
(``assert False``): without the guard, every one of them leaves that test cell without an
error, which nbgrader scores as full marks. All attacks run in one kernel, in order, so each
test cell also shows that the previous attack was undone. Through nbgrader itself, the same
attacks are graded in tests/test_grading.py (``tamper-hooks``).
"""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ae_helpers.grading import GuardedExecute, imported_names

pytestmark = pytest.mark.grading

#: name → answer-cell source that tries to make the next (failing) test cell pass.
ATTACKS = {
    "skip-execution tag": "",   # the tag is put on the test cell, see _notebook
    "input transformer": "get_ipython().input_transformers_cleanup.append(lambda lines: [])",
    "AST transformer": (
        "import ast\n"
        "class Empty(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        node.body = []\n"
        "        return node\n"
        "get_ipython().ast_transformers.append(Empty())"),
    "custom exception handler": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)",
    "showtraceback patched": "get_ipython().showtraceback = lambda *a, **k: None",
    "torch.allclose patched": "import torch\ntorch.allclose = lambda *a, **k: True",
    "numpy.allclose patched": "import numpy\nnumpy.allclose = lambda *a, **k: True",
    "checks module patched": "import ae_helpers.checks as C\nC.check_close = lambda *a, **k: None",
    "imported name shadowed": "check_close = print",
    "Tensor method patched": "import torch\ntorch.Tensor.__lt__ = lambda self, other: True",
    "builtin patched": "import builtins\nbuiltins.all = lambda iterable: True",
    "pre_run_cell event": ("get_ipython().events.register('pre_run_cell', "
                           "lambda info: setattr(info, 'raw_cell', ''))"),
}

#: Test cells: each must fail; what it calls is what the attack before it targets.
TEST_OF = {
    "torch.allclose patched": "import torch\nassert torch.allclose(torch.zeros(1), torch.ones(1))",
    "numpy.allclose patched": "import numpy\nassert numpy.allclose(0.0, 1.0)",
    "checks module patched": "import ae_helpers.checks as C\nC.check_close(0.0, 1.0)",
    "imported name shadowed": "check_close(0.0, 1.0)",
    "Tensor method patched": "import torch\nassert bool(torch.ones(1) < torch.zeros(1))",
    "builtin patched": "assert all([False])",
}


def _cell(source, **nbgrader):
    cell = new_code_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def _notebook():
    cells = [_cell("import torch\nfrom ae_helpers.checks import check_close", locked=True, grade_id="setup")]
    for i, (name, attack) in enumerate(ATTACKS.items()):
        cells.append(_cell(attack or "pass", solution=True, locked=False, grade_id=f"a{i}"))
        test = _cell(TEST_OF.get(name, f"assert False, {name!r}"), grade=True, locked=True,
                     grade_id=f"test_a{i}", points=1)
        if name == "skip-execution tag":
            test.metadata["tags"] = ["skip-execution"]
        cells.append(test)
    cells.append(_cell("ok = torch.ones(2).sum().item() == 2.0\nassert ok", grade=True, locked=True,
                       grade_id="test_honest", points=1))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def executed():
    nb, _ = GuardedExecute(timeout=60).preprocess(_notebook(), {"metadata": {"path": "."}})
    return nb


def _errored(cell) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


@pytest.mark.parametrize("i,name", list(enumerate(ATTACKS)))
def test_attack_does_not_save_a_failing_test(executed, i, name):
    test = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"test_a{i}")
    assert _errored(test), f"the test cell after the attack '{name}' showed no error (full marks)"


def test_honest_cells_still_pass_after_the_attacks(executed):
    last = executed.cells[-1]
    assert not _errored(last), last.outputs


def test_imported_names_of_a_locked_cell():
    assert imported_names("import numpy as np\nfrom a.b import c, d as e\nimport x.y\nz = 1") == [
        "np", "c", "e", "x"]
    assert imported_names("def broken(:") == []
