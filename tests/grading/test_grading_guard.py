"""GuardedExecute, the executor autograde uses, against submissions that switch tests off.

Each attack below is a student answer cell followed by a locked test cell that must fail
(``assert False``): without the guard, every one of them leaves that test cell without an
error, which nbgrader scores as full marks. All attacks run in one kernel, in order, so each
test cell also shows that the previous attack was undone. Through nbgrader itself, the same
attacks are graded in tests/grading/test_grading.py (``tamper-hooks``).
"""
from __future__ import annotations

import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ae_helpers.instructor.preprocessors import GuardedExecute, imported_names

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
def executed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guarded")         # as nbgrader: the submission's own folder
    nb, _ = GuardedExecute(timeout=60).preprocess(_notebook(), {"metadata": {"path": str(folder)}})
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


# ----------------------------------------------------------------------------- the fence

SECRET = "the reference solution"

#: name → an expression that reads ``secret`` (a pathlib.Path to a file in the instructor's
#: solutions folder) or ``course`` (the course root) by another route; each must fail.
ROUTES = {
    "open": "secret.read_text()",
    "subprocess": "subprocess.run(['cat', str(secret)], capture_output=True, text=True).stdout",
    "os.system": "os.system(f'cp {secret} stolen.txt') or pathlib.Path('stolen.txt').read_text()",
    "hard link": "os.link(secret, 'hard.txt') or pathlib.Path('hard.txt').read_text()",
    "symlink to the file": "os.symlink(secret, 'soft.txt') or pathlib.Path('soft.txt').read_text()",
    "symlink to the course": "os.symlink(course, 'up') or pathlib.Path('up/solutions/ch/ch.ipynb').read_text()",
    "rename": "os.rename(secret, 'moved.txt') or pathlib.Path('moved.txt').read_text()",
    "relative path": "pathlib.Path('../../../solutions/ch/ch.ipynb').read_text()",
    "directory descriptor": ("os.read(os.open('solutions/ch/ch.ipynb', os.O_RDONLY, "
                             "dir_fd=os.open(course, os.O_RDONLY)), 1000).decode()"),
    "chdir": "os.chdir(course) or pathlib.Path('solutions/ch/ch.ipynb').read_text()",
    "/proc/self/cwd": "os.chdir(course) or pathlib.Path('/proc/self/cwd/solutions/ch/ch.ipynb').read_text()",
    "libc open": ("os.read(ctypes.CDLL(None).open(str(secret).encode(), os.O_RDONLY), 1000).decode()"),
    "C API": "ctypes.pythonapi.PySys_AddAuditHook",
    "sqlite gradebook": "sqlite3.connect(course / 'gradebook.db').execute('select 1').fetchall()",
    "another student": "(course / 'submitted' / 'bob' / 'ch' / 'ch.ipynb').read_text()",
    "fence tables emptied": "guard_globals()['PATH_EVENTS'].clear() or secret.read_text()",
    "fence tables rebound": ("guard_globals().update(PROCESS_EVENTS=frozenset(), PATH_EVENTS={}) or "
                             "subprocess.run(['cat', str(secret)], capture_output=True, text=True).stdout"),
    "closures via gc": ("[setattr(c, 'cell_contents', frozenset()) for f in __import__('gc').get_objects() "
                        "if getattr(f, '__name__', '') == 'denied' for c in f.__closure__ "
                        "if isinstance(c.cell_contents, frozenset)] and secret.read_text()"),
    "readlink replaced": ("setattr(os, 'readlink', lambda *a, **k: (_ for _ in ()).throw(OSError())) or "
                          "pathlib.Path('soft2.txt').read_text()"),
}

PRELUDE = """import ctypes, os, pathlib, sqlite3, subprocess
course = pathlib.Path({course!r})
secret = course / 'solutions' / 'ch' / 'ch.ipynb'
def attempt(route):
    start = os.getcwd()
    try:
        return route()
    except Exception as error:
        return repr(error)
    finally:
        os.chdir(start)
def guard_globals():
    import builtins
    guard = next(v for v in vars(builtins).values() if type(v).__name__ == "Guard")
    return guard.restore.__func__.__globals__
"""


def _fence_notebook(course):
    cells = [_cell(PRELUDE.format(course=str(course)), locked=True, grade_id="setup")]
    for i, (name, expr) in enumerate(ROUTES.items()):
        cells.append(_cell(f"got = attempt(lambda: {expr})\nassert {SECRET!r} not in str(got), {name!r}\n"
                           f"assert 'PermissionError' in str(got), got",
                           grade=True, locked=True, grade_id=f"test_r{i}", points=1))
    cells.append(_cell(  # what honest code does still works
        "import tempfile\npathlib.Path('mine.txt').write_text('ok')\nassert pathlib.Path('mine.txt').read_text() == 'ok'\n"
        "with tempfile.TemporaryDirectory() as d:\n    (pathlib.Path(d) / 'x').write_text('y')\n"
        "assert (course.parent / 'outside.txt').read_text() == 'data'\nimport numpy, torch\n"
        "assert float(torch.ones(3).sum()) == 3.0",
        grade=True, locked=True, grade_id="test_honest", points=1))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_fence_keeps_the_kernel_out_of_the_instructors_files(tmp_path):
    """Through every route the audit hook sees, the kernel cannot read the solutions, the
    gradebook or another student's work, while reading its own folder, temporary folders and
    data outside the course works. The fence alone (sandbox off): it is the second layer, and
    must hold where bubblewrap is missing (the sandbox mounts no file outside the data cache)."""
    from traitlets.config import Config
    course = tmp_path / "course"
    own = course / "autograded" / "alice" / "ch"
    for folder in (own, course / "solutions" / "ch", course / "submitted" / "bob" / "ch"):
        folder.mkdir(parents=True)
    for path in (course / "solutions" / "ch" / "ch.ipynb", course / "submitted" / "bob" / "ch" / "ch.ipynb"):
        path.write_text(SECRET)
    (course / "gradebook.db").write_text(SECRET)
    (tmp_path / "outside.txt").write_text("data")
    os.symlink(course / "solutions" / "ch" / "ch.ipynb", own / "soft2.txt")   # for "readlink replaced"
    executor = GuardedExecute(timeout=60, sandbox="off",
                              config=Config({"CourseDirectory": {"root": str(course), "source_directory": "solutions"}}))
    nb, _ = executor.preprocess(_fence_notebook(course), {"metadata": {"path": str(own)}})
    failed = {c.metadata["nbgrader"]["grade_id"]: [o.get("evalue") for o in c.outputs if o.output_type == "error"]
              for c in nb.cells if _errored(c)}
    names = dict(zip([f"test_r{i}" for i in range(len(ROUTES))], ROUTES))
    assert not failed, {names.get(k, k): v for k, v in failed.items()}
    assert (course / "solutions" / "ch" / "ch.ipynb").read_text() == SECRET   # not moved either
