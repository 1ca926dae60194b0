"""The suite's xdist groups keep together what must run on one worker, and the slowest start first.

pyproject.toml runs the suite with ``--dist loadgroup --no-loadscope-reorder``. The grading,
fixture and lecture tests carry one ``xdist_group`` per chapter or lecture (a chapter is graded
once per worker, in a module-level cache); the root conftest.py gives every other test the group
of its file, since under loadgroup a test without a group is a work unit of its own, and all
cells of a solution notebook (nbval) must run in one kernel on one worker.

- the suite's groups, read from a real collection (``--collect-only``, 7 to 10 s): one group per
  test, a notebook's cells in its file's group, a chapter's tests in the chapter's group;
- a tiny run on two workers (2 to 4 s), with the project's conftest hooks and addopts: every
  file and every group ran on one worker (without the hooks each would be split), and
  ``conftest.START_FIRST`` started first (xdist alone would start the biggest groups).
"""
from __future__ import annotations

import ast
import collections
import json
import os
import re
import subprocess
import sys
import tomllib

from ae_helpers.instructor.course import CHAPTERS, ROOT

#: A pytest plugin that writes each collected test's xdist_group names to $GROUPS_OUT.
REPORTER = '''
import json, os

def pytest_collection_finish(session):
    groups = {item.nodeid: [str(m.args[0]) for m in item.iter_markers("xdist_group")] for item in session.items}
    with open(os.environ["GROUPS_OUT"], "w") as out:
        json.dump(groups, out)
'''

#: Test files whose tests carry one group per chapter (lecture): file → group prefix.
CHAPTER_GROUPS = {"tests/grading/test_grading.py": "grading", "tests/grading/test_grading_fixtures.py": "fixtures",
                  "tests/notebooks/test_lectures.py": "lecture"}


def start_first() -> tuple[str, ...]:
    """``START_FIRST`` of the root conftest.py, read without running its module code."""
    [value] = [node.value for node in ast.parse((ROOT / "conftest.py").read_text()).body
               if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "START_FIRST"]
    return ast.literal_eval(value)


def project_hooks() -> str:
    """The xdist part of the root conftest.py (its imports but the course's, ``START_FIRST``,
    ``xdist_group`` and its ``pytest_*`` hooks) as source, without the module code that seeds a
    data cache (4 s)."""
    text = (ROOT / "conftest.py").read_text()
    kept = [node for node in ast.parse(text).body if isinstance(node, ast.Import)
            or isinstance(node, ast.ImportFrom) and not node.module.startswith("ae_helpers")
            or isinstance(node, ast.FunctionDef) and (node.name.startswith("pytest_") or node.name == "xdist_group")
            or isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "START_FIRST"]
    lines = text.splitlines()
    return "\n\n".join("\n".join(lines[min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1:
                                         node.end_lineno]) for node in kept)


def collected_groups(tmp_path) -> dict[str, list[str]]:
    """Node id → xdist_group names of every test of the suite, as collected with the project's conftest."""
    (tmp_path / "groups_reporter.py").write_text(REPORTER)
    env = {**os.environ, "GROUPS_OUT": str(tmp_path / "groups.json"),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider",
                           "-p", "groups_reporter"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((tmp_path / "groups.json").read_text())


def test_the_suites_groups_keep_notebooks_files_and_chapters_together(tmp_path):
    groups = collected_groups(tmp_path)
    assert len(groups) > 1000, len(groups)
    several = {nodeid: names for nodeid, names in groups.items() if len(names) != 1}
    assert not several, f"tests with no or several xdist groups: {list(several.items())[:5]}"
    files_of = collections.defaultdict(set)
    for nodeid, [group] in groups.items():
        path = nodeid.split("::")[0]
        files_of[group].add(path)
        if path in CHAPTER_GROUPS:
            slug = group.removeprefix(f"{CHAPTER_GROUPS[path]}-")
            assert slug in CHAPTERS and re.search(rf"\[{slug}\b", nodeid), f"{nodeid} is in group {group}"
        else:
            assert group == path, f"{nodeid} is in group {group}, not in its file's"
    spread = {group: files for group, files in files_of.items() if len(files) > 1}
    assert not spread, f"groups that span files: {spread}"
    for path, prefix in CHAPTER_GROUPS.items():
        assert {g for g, files in files_of.items() if path in files} == {f"{prefix}-{c}" for c in CHAPTERS}, path
    notebooks = {nodeid.split("::")[0] for nodeid in groups if nodeid.startswith("solutions/")}
    assert notebooks == {f"solutions/{c}/{c}.ipynb" for c in CHAPTERS}
    missing = set(start_first()) - set(files_of)
    assert start_first() and not missing, f"START_FIRST names groups the suite does not have: {missing}"


#: The tiny suite: a notebook-like file and a big file of ungrouped tests, and chapter groups.
TINY = {
    "conftest.py": '''
import os, pytest

{hooks}

@pytest.fixture(autouse=True)
def log_unit(request):
    """Logs the worker and the unit that must stay on one worker: the test's group, or its file."""
    callspec = getattr(request.node, "callspec", None)
    unit = callspec.params.get("group") if callspec else None
    with open({log!r}, "a") as out:
        out.write(os.environ["PYTEST_XDIST_WORKER"] + " " + (unit or request.node.path.name) + "\\n")
''',
    "test_cells.py": "".join(f"def test_cell_{i}():\n    pass\n\n" for i in range(8)),
    "test_many.py": "import pytest\n\n@pytest.mark.parametrize('i', range(30))\ndef test_many(i):\n    pass\n",
    "test_chapters.py": '''
import pytest

@pytest.mark.parametrize("group,i", [pytest.param(g, i, marks=pytest.mark.xdist_group(g))
                                     for g in {groups!r} for i in range(4)])
def test_chapter(group, i):
    pass
''',
}


def test_two_workers_keep_each_file_and_group_together_and_start_the_slowest_first(tmp_path):
    log = tmp_path / "ran.txt"
    groups = [*start_first(), "fixtures-01_linear_ae_pca"]
    for name, text in TINY.items():
        (tmp_path / name).write_text(text.format(hooks=project_hooks(), log=str(log), groups=groups))
    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    addopts = " ".join(option for option in addopts.split() if not option.startswith("--nbval"))
    (tmp_path / "pytest.ini").write_text(f"[pytest]\naddopts = {addopts} -p no:nbval\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = [line.split(" ") for line in log.read_text().splitlines()]
    assert len(runs) == 8 + 30 + 4 * len(groups)
    workers = collections.defaultdict(set)
    for worker, unit in runs:
        workers[unit].add(worker)
    assert len(workers) == 2 + len(groups)
    split = {unit: ws for unit, ws in workers.items() if len(ws) > 1}
    assert not split, f"split over workers: {split}"
    assert len({worker for worker, _ in runs}) == 2, "the tiny run did not use both workers"
    first = {worker: unit for worker, unit in reversed(runs)}
    assert sorted(first.values()) == sorted(start_first()[:2]), f"the units each worker ran first: {first}"
