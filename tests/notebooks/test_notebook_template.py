"""Every notebook follows the course template and is committed without outputs."""
from __future__ import annotations

import ast
import re
import typing

import nbformat
import pytest

from ae_helpers import checks
from ae_helpers.instructor import course

NOTEBOOKS = course.notebooks() + sorted((course.ROOT / "exercises").glob("*/*.ipynb"))
IDS = [p.relative_to(course.ROOT).as_posix() for p in NOTEBOOKS]


def read(path):
    return nbformat.read(path, as_version=4)


def test_there_are_notebooks():
    assert course.notebooks(), "no lecture or solution notebooks found"


def test_the_chapter_list_is_the_one_the_repository_holds():
    """``course.CHAPTERS`` is the one chapter list: every chapter has a lecture, a solution and a
    release, and nothing else does."""
    lectures = sorted(p.stem for p in (course.ROOT / "lectures").glob("*.ipynb"))
    released = sorted(p.parent.name for p in (course.ROOT / "exercises").glob("*/*.ipynb"))
    assert course.CHAPTERS == sorted(course.CHAPTERS) == lectures == course.chapters_in(course.ROOT) == released


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapter_slug_is_known(path):
    slug = path.stem
    assert slug in course.CHAPTERS, f"{slug} is not in ae_helpers.instructor.course.CHAPTERS"
    if path.parent.name != "lectures":
        assert path.parent.name == slug


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_title_goals_and_time_estimate(path):
    first = read(path).cells[0]
    assert first.cell_type == "markdown"
    assert re.match(rf"# {path.stem[:2]} · \S", first.source), "title must read '# NN · …'"
    assert re.search(r"\d+\s*min", first.source), "the first cell needs a time estimate (… min)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_badge_and_setup_cell_in_step(path):
    nb = read(path)
    assert nb.cells[1].source == course.badge(course.student_path(path)), (
        "badge out of step: run `ae-course sync`")
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert setup.source.startswith(course.install_block()), (
        "install block out of step: run `ae-course sync`")
    assert "DEVICE = get_device()" in setup.source and "set_seed(" in setup.source
    assert sum(course.INSTALL_MARKER in c.source for c in nb.cells) == 1, "one setup cell only"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    dirty = [i for i, c in enumerate(read(path).cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"cells {dirty} have outputs: clear them before committing"


def test_sync_rewrites_badge_and_install_block():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 01 · T"),
        nbformat.v4.new_markdown_cell("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](old)"),
        nbformat.v4.new_code_cell("# --- course setup: old ---\nold install\n" + course.INSTALL_END + "\nimport torch"),
    ])
    assert course._apply_template(nb, "lectures/01_linear_ae_pca.ipynb")
    assert nb.cells[1].source == course.badge("lectures/01_linear_ae_pca.ipynb")
    assert nb.cells[2].source == course.install_block() + "\nimport torch"
    assert not course._apply_template(nb, "lectures/01_linear_ae_pca.ipynb"), "second sync changes nothing"


def test_colab_addresses_come_from_one_place():
    url = course.colab_url("lectures/x.ipynb")
    assert course.REPO in url and course.REPO in course.install_block()


SOLUTIONS = sorted((course.ROOT / "solutions").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_graded_exercises_load_pinned_data(path):
    """A grade must not depend on what the grading server has cached: exercises load the
    embedded data sets through load_dataset(..., pinned=True), never a cache."""
    calls = [m.group(0) for c in read(path).cells if c.cell_type == "code"
             for m in re.finditer(r"load_dataset\([^)]*\)", c.source)]
    unpinned = [call for call in calls if "pinned=True" not in call]
    assert not unpinned, f"{path.stem} loads data that depend on the cache: {unpinned}; add pinned=True"


def _returns_nothing(call: ast.Call) -> bool:
    """The call is print(...) or a check of ae_helpers.checks annotated to return None."""
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if name == "print":
        return True
    check = getattr(checks, name, None)
    return callable(check) and typing.get_type_hints(check).get("return") is type(None)


@pytest.mark.parametrize("path", sorted((course.ROOT / "exercises").glob("*/*.ipynb")),
                         ids=lambda p: p.parent.name)
def test_released_test_cells_show_no_value(path):
    """A released test cell must not end with an expression that has a value: nbgrader's
    Validate (which runs the release, without the hidden tests) reads a number shown by a test
    cell as partial credit, and tells a student with correct answers that tests failed."""
    shown = []
    for cell in read(path).cells:
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        body = ast.parse(source).body
        last = body[-1] if body else None
        if isinstance(last, ast.Expr) and not (isinstance(last.value, ast.Call) and _returns_nothing(last.value)):
            shown.append(f"{cell.metadata['nbgrader']['grade_id']}: {ast.unparse(last)[:80]}")
    assert not shown, ("test cells that end with a value (end the line with ';', or call a check that "
                       f"returns None): {shown}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_progress_bars_go_through_the_course_helpers(path):
    """A bar made by tqdm directly stays a widget view in the saved notebook ("Error displaying
    widget" when reopened, a bar stuck at 0 % in HTML); fit's bar and ae_helpers.progress leave
    their last line as text."""
    code = "\n".join(c.source for c in read(path).cells if c.cell_type == "code")
    assert not re.search(r"^\s*(from tqdm|import tqdm)", code, re.MULTILINE), (
        "use ae_helpers.progress(items, desc=...) for a loop's progress bar, not tqdm directly")
