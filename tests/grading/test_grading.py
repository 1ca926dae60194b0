"""The grading round trip of every chapter, through nbgrader itself.

For each chapter with a solutions notebook:

- the release generated from ``solutions/`` equals the committed ``exercises/``;
- the reference solution gets full marks;
- the blank release gets zero, also when it was tampered with: test cells deleted, re-typed,
  renamed, stripped of their metadata or tagged to be skipped; IPython hooks, numpy, torch or
  the checks patched from an answer cell; answers that return an object equal to everything
  (``TAMPERINGS``). For the first and the last chapter also: test cells replaced by ``pass``,
  given more points, duplicated or re-flagged as answers; the kernel exited with forged
  passing outputs left in the test cells; answers that run the instructor's solutions read
  from the grader's disk (``ENGINE_TAMPERINGS``: they meet the same code whatever the chapter);
- a composite of the mistake fixtures (the first of each part) loses points on every part and
  a composite of the alternative answers keeps full marks, which cross-checks the
  shared-kernel grading of every single fixture in ``test_grading_fixtures.py``;
- one partial submission graded five times in fresh kernels gets the same scores each time;
- (first and last chapter) the reference with its test cells copied and re-flagged by
  accident keeps full marks;
- hidden tests and solution code reach neither the release nor the feedback (of the
  reference, the blank and the composite of mistakes).
"""
from __future__ import annotations

import copy
import html
import re

import nbformat
import pytest

from ae_helpers.instructor.course import CHAPTERS, ROOT
from kernel_grader import fixtures
from nbgrader_harness import auto_test_ids, fill, grade, nbgrader_meta, solution_sources
from test_grading_guard import ATTACKS

pytestmark = pytest.mark.grading


def in_group(slug: str, *values):
    """The test parameters ``(slug, *values)`` in the xdist group ``grading-<slug>``: with
    ``--dist loadgroup`` a chapter's tests run on one worker, so each chapter is graded once
    (``graded`` caches per worker) and two chapters at a time."""
    return pytest.param(slug, *values, marks=pytest.mark.xdist_group(f"grading-{slug}"))


BY_CHAPTER = [in_group(slug) for slug in CHAPTERS]



def source_nb(slug):
    return nbformat.read(ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4)


def committed_release(slug):
    return nbformat.read(ROOT / "exercises" / slug / f"{slug}.ipynb", as_version=4)


def _test_cells(nb):
    return [c for c in nb.cells if nbgrader_meta(c).get("grade") and c.cell_type == "code"]


def _tests_replaced_by_pass(release):
    nb = copy.deepcopy(release)
    for cell in _test_cells(nb):
        cell.source = "pass"
    return nb


def _tests_deleted(release):
    nb = copy.deepcopy(release)
    tests = _test_cells(nb)
    nb.cells = [c for c in nb.cells if c not in tests]
    return nb


def _points_inflated(release):
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade"):
            cell.metadata["nbgrader"]["points"] = 1000
    return nb


def _test_cells_restructured(release):
    """Each test cell changed in one of four ways: tagged ``skip-execution``, re-typed to
    markdown, stripped of its nbgrader metadata, or renamed — and all moved to the top."""
    nb = copy.deepcopy(release)
    tests = _test_cells(nb)
    for i, cell in enumerate(tests):
        way = i % 4
        if way == 0:
            cell.metadata["tags"] = ["skip-execution", "raises-exception"]
        elif way == 1:
            cell.cell_type = "markdown"
            cell.pop("outputs", None), cell.pop("execution_count", None)
        elif way == 2:
            cell.metadata.pop("nbgrader")
            cell.source = "pass"
        else:
            cell.metadata["nbgrader"]["grade_id"] += "_renamed"
            cell.source = "pass"
    nb.cells = tests + [c for c in nb.cells if c not in tests]
    return nb


def _forged_clean_outputs(nb):
    """Every test cell looks as if it had run and passed."""
    for cell in _test_cells(nb):
        cell.execution_count = 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="all tests passed\n")]
    return nb


def _kernel_exit(release, code):
    nb = _forged_clean_outputs(copy.deepcopy(release))
    _code_answers(nb)[0].source = code
    return nb


def _tests_duplicated(release):
    """Each test cell has a copy of itself (same grade id) with ``pass`` as source before and after it."""
    nb = copy.deepcopy(release)
    tests, cells = _test_cells(nb), []
    for cell in nb.cells:
        if cell in tests:
            before, after = copy.deepcopy(cell), copy.deepcopy(cell)
            before.source = after.source = "pass"
            before.id, after.id = cell.id + "b", cell.id + "a"
            cells += [before, cell, after]
        else:
            cells.append(cell)
    nb.cells = cells
    return nb


def _test_roles_flipped(release):
    """Each test cell is re-flagged as an unlocked answer cell worth 0 points, its source ``pass``."""
    nb = copy.deepcopy(release)
    for cell in _test_cells(nb):
        cell.metadata["nbgrader"].update(grade=False, solution=True, locked=False, points=0)
        cell.source = "pass"
    return nb


def _code_answers(nb):
    return [c for c in nb.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code"]


def _hooks_patched(release):
    """The first answer cell installs every attack of test_grading_guard.ATTACKS."""
    nb = copy.deepcopy(release)
    first = _code_answers(nb)[0]
    first.source = "\n".join(code for code in ATTACKS.values() if code) + "\n" + first.source
    return nb


OMNI = '''
class Omni:
    """Equal to, smaller and greater than anything; every operation returns itself."""
    __class__ = property(lambda self: torch.Tensor)
    def __getattr__(self, name): return self
    def __call__(self, *a, **k): return self
    def __getitem__(self, key): return self
    def __iter__(self): return iter([self] * 4)
    def __len__(self): return 4
    def __bool__(self): return True
    def __float__(self): return 0.0
    def __int__(self): return 0
    def __index__(self): return 0
    def __array__(self, *a, **k): import numpy; return numpy.zeros(4)
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None): return Omni()
for _op in "eq ne lt le gt ge".split():
    setattr(Omni, f"__{_op}__", lambda self, other: True)
for _op in "add radd sub rsub mul rmul truediv rtruediv pow rpow matmul rmatmul neg abs".split():
    setattr(Omni, f"__{_op}__", lambda self, *a: self)
'''


STEAL = '''
import ctypes, json, os, pathlib, subprocess


def _libc_read(path):
    fd = ctypes.CDLL(None).open(str(path).encode(), os.O_RDONLY)
    if fd < 0:
        raise OSError(path)
    return os.read(fd, 10**8).decode()


def _dir_fd_read(path):
    return os.read(os.open(path.name, os.O_RDONLY, dir_fd=os.open(path.parent, os.O_RDONLY)), 10**8).decode()


def _linked_read(path, make_link):
    copy = pathlib.Path(f"copy{os.getpid()}.ipynb")
    copy.unlink(missing_ok=True)
    make_link(path, copy)
    return copy.read_text()


ROUTES = [lambda p: p.read_text(),
          lambda p: subprocess.run(["cat", str(p)], capture_output=True, text=True, check=True).stdout,
          lambda p: _linked_read(p, os.link), lambda p: _linked_read(p, os.symlink),
          _dir_fd_read, _libc_read]


def reference_of(grade_id):
    """The instructor's solution of ``grade_id``, read from the course directory on the grader."""
    slug = pathlib.Path.cwd().name
    for route in ROUTES:
        for up in pathlib.Path.cwd().parents:
            try:
                cells = json.loads(route(up / "solutions" / slug / f"{slug}.ipynb"))["cells"]
            except Exception:
                continue
            return next("".join(c["source"]) for c in cells
                        if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    return "raise NotImplementedError('no route to the solutions')"
'''


def _answers_read_from_the_solutions(release):
    """Every answer executes the instructor's solution of its cell, read from the grader's disk
    by six routes: open, a subprocess, a hard link, a symlink, a directory descriptor, libc."""
    nb = copy.deepcopy(release)
    answers = _code_answers(nb)
    for cell in answers:
        cell.source = f"exec(reference_of({nbgrader_meta(cell)['grade_id']!r}))"
    answers[0].source = STEAL + "\n" + answers[0].source
    return nb


def _answers_return_omni(release):
    """Every answer returns an object that compares equal (and smaller, and greater) to anything."""
    nb = copy.deepcopy(release)
    answers = _code_answers(nb)
    for cell in answers:
        cell.source = re.sub(r"raise NotImplementedError\(.*\)", "return Omni()", cell.source)
    answers[0].source = "import torch\n" + OMNI + "\n" + answers[0].source
    return nb


#: Blank submissions that a student altered to fool the grader; none may score above 0. What
#: they meet depends on the chapter's cells and on how its tests compare: graded for every chapter.
#: (Deleted or renamed test cells are put back next to the cell before them in the source, so
#: what happens depends on the chapter's cell order.)
TAMPERINGS = {"tests-deleted": _tests_deleted, "tests-restructured": _test_cells_restructured,
              "hooks-patched": _hooks_patched, "answers-return-omni": _answers_return_omni}

#: Tamperings that meet the same code whatever the chapter (nbgrader's sanitizer as the course
#: configures it, the executor's handling of a dead kernel, the fence): graded for the first and
#: the last chapter, with the honest edits of copied and re-flagged test cells, to keep CI short.
ENGINE_TAMPERINGS = {"tests-replaced-by-pass": _tests_replaced_by_pass, "points-inflated": _points_inflated,
                     "tests-duplicated": _tests_duplicated, "test-roles-flipped": _test_roles_flipped,
                     "kernel-exit": lambda nb: _kernel_exit(nb, "import os\nos._exit(0)"),
                     "ipython-exit": lambda nb: _kernel_exit(nb, "exit()"),
                     "answers-read-from-the-solutions": _answers_read_from_the_solutions}
ENGINE_CHAPTERS = (CHAPTERS[0], CHAPTERS[-1])


def tamperings(slug: str) -> dict:
    return {**TAMPERINGS, **(ENGINE_TAMPERINGS if slug in ENGINE_CHAPTERS else {})}

_graded: dict = {}

#: The students whose feedback pages are generated and searched for leaks.
FEEDBACK_FOR = ("reference", "blank", "mistakes")

#: How many times one partial submission (the reference with a mistake in its last part) is
#: graded, each time in a fresh nbgrader kernel.
REGRADINGS = 5


def composite(slug, kind) -> dict[str, str]:
    """grade_id → source of the first ``kind`` fixture (mistakes/alternatives) of each part."""
    out = {}
    for gid, source in fixtures(slug, kind).values():
        out.setdefault(gid, source)
    return out


def graded(slug):
    """Grade reference, blank and every mistake of ``slug`` once per test session."""
    if slug not in _graded:
        name = f"{slug}.ipynb"
        release = committed_release(slug)
        reference = solution_sources(source_nb(slug))
        subs = {"reference": {name: fill(release, reference)}, "blank": {name: release}}
        for name_, tamper in tamperings(slug).items():
            subs[f"tamper-{name_}"] = {name: tamper(release)}
        for kind in ("mistakes", "alternatives"):
            subs[kind] = {name: fill(release, {**reference, **composite(slug, kind)})}
        last_part, mistake = list(composite(slug, "mistakes").items())[-1]
        for i in range(1, REGRADINGS + 1):
            subs[f"partial-{i}"] = {name: fill(release, {**reference, last_part: mistake})}
        if slug in ENGINE_CHAPTERS:
            subs["reference-tests-copied-and-reflagged"] = {
                name: _test_roles_flipped(_tests_duplicated(fill(release, reference)))}
        release_dir, results = grade(slug, subs, feedback_for=FEEDBACK_FOR)
        _graded[slug] = (release_dir, results)
    return _graded[slug]


def split_regions(nb, marker: str) -> tuple[list[str], str]:
    """(non-trivial lines inside the ``BEGIN/END <marker>`` regions, all source outside them)."""
    inside_lines, outside = [], []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if f"BEGIN {marker}" in line:
                inside = True
            elif f"END {marker}" in line:
                inside = False
            elif inside:
                if len(line.strip()) >= 12 and not line.strip().startswith("#"):
                    inside_lines.append(line.strip())
            else:
                outside.append(line)
    return inside_lines, "\n".join(outside)


def leaks(nb, marker: str, text: str) -> list[str]:
    """Lines of ``nb``'s ``marker`` regions that occur in ``text`` but nowhere outside the regions."""
    secret, _ = split_regions(nb, marker)
    public = "\n".join(split_regions(nb, m)[1] for m in ("HIDDEN TESTS", "SOLUTION"))
    return [line for line in secret if line in text and line not in public]


def visible_text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.mark.parametrize("slug", BY_CHAPTER)
def test_release_matches_committed_exercises(slug):
    release_dir, _ = graded(slug)
    generated = nbformat.read(release_dir / f"{slug}.ipynb", as_version=4)
    assert generated == committed_release(slug), (
        f"exercises/{slug} is out of date: run `python -m ae_helpers.instructor.course release {slug}`")


@pytest.mark.parametrize("slug", BY_CHAPTER)
def test_release_hides_solutions_and_hidden_tests(slug):
    text = (ROOT / "exercises" / slug / f"{slug}.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    text = "\n".join(c.source for c in committed_release(slug).cells)
    src = source_nb(slug)
    assert not leaks(src, "HIDDEN TESTS", text), "hidden test code appears in the release"
    assert not leaks(src, "SOLUTION", text), "solution code appears in the release"


@pytest.mark.parametrize("slug", BY_CHAPTER)
def test_reference_gets_full_marks(slug):
    _, results = graded(slug)
    ref = results["reference"]
    expected = auto_test_ids(source_nb(slug))
    assert ref.max_scores == expected, "graded cells differ from the source notebook's"
    assert ref.total == ref.max_total > 0, (
        "the reference lost points: " + str({k: v for k, v in ref.scores.items() if v < ref.max_scores[k]}))


@pytest.mark.parametrize("slug", BY_CHAPTER)
def test_blank_release_scores_zero(slug):
    _, results = graded(slug)
    assert results["blank"].max_total > 0
    assert results["blank"].total == 0, {k: v for k, v in results["blank"].scores.items() if v}


@pytest.mark.parametrize("slug", BY_CHAPTER)
def test_composite_of_mistakes_loses_points_on_every_part(slug):
    """Through nbgrader: the first mistake of every part at once; each part must lose points."""
    _, results = graded(slug)
    result = results["mistakes"]
    kept = {gid: result.part(gid) for gid in composite(slug, "mistakes")
            if result.part(gid)[0] >= result.part(gid)[1]}
    assert not kept, f"parts that kept all points with a mistake in them: {kept}"


@pytest.mark.parametrize("slug", BY_CHAPTER)
def test_composite_of_alternatives_gets_full_marks(slug):
    """Through nbgrader: correct answers written differently from the reference, some of them
    printing to stderr, keep full marks."""
    _, results = graded(slug)
    result = results["alternatives"]
    assert composite(slug, "alternatives"), "no alternative fixtures"
    assert result.total == result.max_total > 0, {k: v for k, v in result.scores.items()
                                                   if v < result.max_scores[k]}


@pytest.mark.parametrize("slug", BY_CHAPTER)
def test_fresh_gradings_of_one_submission_agree(slug):
    """Determinism: one partial submission, graded REGRADINGS times by nbgrader in fresh
    kernels (spread over two course directories), gets the same score on every test cell."""
    _, results = graded(slug)
    runs = [results[f"partial-{i}"] for i in range(1, REGRADINGS + 1)]
    assert 0 < runs[0].total < runs[0].max_total, runs[0].scores
    differing = {k for run in runs[1:] for k in run.scores if run.scores[k] != runs[0].scores[k]}
    assert not differing, f"scores that changed between gradings: {sorted(differing)}"


@pytest.mark.parametrize("slug", [in_group(s) for s in ENGINE_CHAPTERS])
def test_copied_and_reflagged_tests_are_graded_as_released(slug):
    """Fairness: a student who copied every test cell and toggled its nbgrader role (test →
    answer) keeps full marks with the reference answers; nbgrader alone leaves such a notebook
    ungraded (see ae_helpers/instructor/sanitize.py)."""
    _, results = graded(slug)
    result = results["reference-tests-copied-and-reflagged"]
    assert result.max_scores == results["reference"].max_scores
    assert result.total == result.max_total, {k: v for k, v in result.scores.items() if v < result.max_scores[k]}


@pytest.mark.parametrize("slug", BY_CHAPTER)
def test_feedback_hides_hidden_tests_and_solutions(slug):
    """Also in the error messages of the composite of mistakes, where tests fail."""
    _, results = graded(slug)
    src = source_nb(slug)
    for student in FEEDBACK_FOR:
        page = results[student].feedback
        assert "hidden tests run here" in page, f"no feedback generated for {student}"
        leaked = leaks(src, "HIDDEN TESTS", visible_text(page))
        assert not leaked, f"hidden tests in {student}'s feedback: {leaked[:3]}"
    leaked = leaks(src, "SOLUTION", visible_text(results["blank"].feedback))
    assert not leaked, f"solution code in the blank submission's feedback: {leaked[:3]}"


@pytest.mark.parametrize("slug,tamper", [in_group(s, t) for s in CHAPTERS for t in tamperings(s)])
def test_tampered_blank_submission_still_scores_zero(slug, tamper):
    """Locked test cells are restored from the gradebook, deleted ones added back, and the
    points come from the gradebook, not from the submitted metadata."""
    _, results = graded(slug)
    result = results[f"tamper-{tamper}"]
    assert result.max_scores == results["reference"].max_scores
    assert result.total == 0, {k: v for k, v in result.scores.items() if v}
