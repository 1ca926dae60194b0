"""The grading round trip of every chapter, through nbgrader itself.

For each chapter with a solutions notebook: the release generated from ``solutions/`` equals
the committed ``exercises/``; the reference solution gets full marks; the blank release gets
zero, also when its test cells were edited, deleted or given more points; every mistake
fixture loses points on its own part; hidden tests and solution code reach neither the
release nor the feedback.
"""
from __future__ import annotations

import copy
import html
import re

import nbformat
import pytest

from ae_helpers.course import ROOT
from nbgrader_harness import auto_test_ids, fill, grade, mistakes, nbgrader_meta, solution_sources

pytestmark = pytest.mark.grading

SLUGS = sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb"))
MIN_MISTAKES_PER_PART = 3


def source_nb(slug):
    return nbformat.read(ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4)


def committed_release(slug):
    return nbformat.read(ROOT / "exercises" / slug / f"{slug}.ipynb", as_version=4)


def _tests_replaced_by_pass(release):
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade") and cell.cell_type == "code":
            cell.source = "pass"
    return nb


def _tests_deleted(release):
    nb = copy.deepcopy(release)
    nb.cells = [c for c in nb.cells if not (nbgrader_meta(c).get("grade") and c.cell_type == "code")]
    return nb


def _points_inflated(release):
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade"):
            cell.metadata["nbgrader"]["points"] = 1000
    return nb


#: Blank submissions that a student altered to fool the grader; none may score above 0.
TAMPERINGS = {"tests-replaced-by-pass": _tests_replaced_by_pass, "tests-deleted": _tests_deleted,
              "points-inflated": _points_inflated}

_graded: dict = {}


def graded(slug):
    """Grade reference, blank and every mistake of ``slug`` once per test session."""
    if slug not in _graded:
        name = f"{slug}.ipynb"
        release = committed_release(slug)
        reference = solution_sources(source_nb(slug))
        subs = {"reference": {name: fill(release, reference)}, "blank": {name: release}}
        for name_, tamper in TAMPERINGS.items():
            subs[f"tamper-{name_}"] = {name: tamper(release)}
        for fixture, (gid, wrong) in mistakes(slug).items():
            subs[f"mistake-{fixture}"] = {name: fill(release, {**reference, gid: wrong})}
        release_dir, results = grade(slug, subs)
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


@pytest.mark.parametrize("slug", SLUGS)
def test_release_matches_committed_exercises(slug):
    release_dir, _ = graded(slug)
    generated = nbformat.read(release_dir / f"{slug}.ipynb", as_version=4)
    assert generated == committed_release(slug), (
        f"exercises/{slug} is out of date: run `python -m ae_helpers.course release {slug}`")


@pytest.mark.parametrize("slug", SLUGS)
def test_release_hides_solutions_and_hidden_tests(slug):
    text = (ROOT / "exercises" / slug / f"{slug}.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    text = "\n".join(c.source for c in committed_release(slug).cells)
    src = source_nb(slug)
    assert not leaks(src, "HIDDEN TESTS", text), "hidden test code appears in the release"
    assert not leaks(src, "SOLUTION", text), "solution code appears in the release"


@pytest.mark.parametrize("slug", SLUGS)
def test_reference_gets_full_marks(slug):
    _, results = graded(slug)
    ref = results["reference"]
    expected = auto_test_ids(source_nb(slug))
    assert ref.max_scores == expected, "graded cells differ from the source notebook's"
    assert ref.total == ref.max_total > 0, (
        "the reference lost points: " + str({k: v for k, v in ref.scores.items() if v < ref.max_scores[k]}))


@pytest.mark.parametrize("slug", SLUGS)
def test_blank_release_scores_zero(slug):
    _, results = graded(slug)
    assert results["blank"].max_total > 0
    assert results["blank"].total == 0, {k: v for k, v in results["blank"].scores.items() if v}


@pytest.mark.parametrize("slug", SLUGS)
def test_every_graded_part_has_mistake_fixtures(slug):
    src = source_nb(slug)
    code_parts = [nbgrader_meta(c)["grade_id"] for c in src.cells
                  if nbgrader_meta(c).get("solution") and c.cell_type == "code"]
    counts = {gid: 0 for gid in code_parts}
    for gid, _ in mistakes(slug).values():
        assert gid in counts, f"fixture names unknown solution cell {gid!r}"
        counts[gid] += 1
    assert code_parts and all(n >= MIN_MISTAKES_PER_PART for n in counts.values()), counts


MISTAKES = [(slug, name) for slug in SLUGS for name in mistakes(slug)]


@pytest.mark.parametrize("slug,fixture", MISTAKES, ids=[f"{s}:{m}" for s, m in MISTAKES])
def test_mistake_loses_points(slug, fixture):
    _, results = graded(slug)
    gid = mistakes(slug)[fixture][0]
    result = results[f"mistake-{fixture}"]
    score, maximum = result.part(gid)
    assert maximum > 0, f"no test cell named test_{gid}*"
    assert score < maximum, f"mistake {fixture} kept all {maximum} points of part {gid}"
    assert result.total < results["reference"].total


@pytest.mark.parametrize("slug", SLUGS)
def test_feedback_hides_hidden_tests_and_solutions(slug):
    _, results = graded(slug)
    src = source_nb(slug)
    for student in ("reference", "blank"):
        page = results[student].feedback
        assert "hidden tests run here" in page, f"no feedback generated for {student}"
        leaked = leaks(src, "HIDDEN TESTS", visible_text(page))
        assert not leaked, f"hidden tests in {student}'s feedback: {leaked[:3]}"
    leaked = leaks(src, "SOLUTION", visible_text(results["blank"].feedback))
    assert not leaked, f"solution code in the blank submission's feedback: {leaked[:3]}"


@pytest.mark.parametrize("slug,tamper", [(s, t) for s in SLUGS for t in TAMPERINGS])
def test_tampered_blank_submission_still_scores_zero(slug, tamper):
    """Locked test cells are restored from the gradebook, deleted ones added back, and the
    points come from the gradebook, not from the submitted metadata."""
    _, results = graded(slug)
    result = results[f"tamper-{tamper}"]
    assert result.max_scores == results["reference"].max_scores
    assert result.total == 0, {k: v for k, v in result.scores.items() if v}
