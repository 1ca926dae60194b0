"""Every mistake fixture loses points on its own part; every alternative keeps full marks.

Mistakes are edits of the current reference cell, listed in ``tests/fixtures/<slug>/mistakes.py``
(``tests/grading/test_fixture_edits.py`` checks that each still applies); alternatives are whole solution
cells in ``tests/fixtures/<slug>/alternatives/<grade_id>--<what>.py``. They are graded in one shared kernel per chapter
(``kernel_grader.py`` explains how and why that is faithful); ``tests/grading/test_grading.py``
grades a composite of them through nbgrader itself. A chapter's tests form one xdist group
(``fixtures-<slug>``), so that ``--dist loadgroup`` grades two chapters at once on two workers.
"""
from __future__ import annotations

import nbformat
import pytest

from ae_helpers.instructor.course import CHAPTERS, ROOT
from kernel_grader import SharedKernelGrader, fixtures, meta

pytestmark = pytest.mark.grading

MIN_MISTAKES_PER_PART = 3
MIN_ALTERNATIVES_PER_PART = 1
MINIMUM_PER_PART = {"mistakes": MIN_MISTAKES_PER_PART, "alternatives": MIN_ALTERNATIVES_PER_PART}

_cache: dict = {}


def graded_variants(slug: str):
    """(reference scores, {fixture name: scores of its part}, reference re-runs per part,
    {mistake name: scores of every test cell after its part, graded with the mistake in place}).

    Fixtures run part by part in notebook order, so that a mistake's later cells are put back
    once per part (``SharedKernelGrader._restore_before``)."""
    if slug not in _cache:
        order = {gid: i for i, gid in enumerate(code_parts(slug))}
        variants = [(kind, name, gid, source) for kind in ("mistakes", "alternatives")
                    for name, (gid, source) in fixtures(slug, kind).items()]
        variants.sort(key=lambda v: (order.get(v[2], len(order)), v[0] != "mistakes", v[1]))
        with SharedKernelGrader(slug) as grader:
            out, later = {}, {}
            for kind, name, gid, source in variants:
                rest = later.setdefault(name, {}) if kind == "mistakes" else None
                out[name] = grader.grade_variant(gid, source, rest=rest)
            _cache[slug] = (grader.reference, out, grader.reference_runs, later)
    return _cache[slug]


def code_parts(slug):
    nb = nbformat.read(ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4)
    return [meta(c)["grade_id"] for c in nb.cells if meta(c).get("solution") and c.cell_type == "code"]


def in_group(slug: str, *values):
    """The test parameters ``(slug, *values)`` in the xdist group ``fixtures-<slug>``: with
    ``--dist loadgroup`` a chapter's fixture tests run on one worker, so its fixtures are graded
    once (``graded_variants`` caches per worker) and two chapters at a time."""
    return pytest.param(slug, *values, marks=pytest.mark.xdist_group(f"fixtures-{slug}"))


def per_fixture(kind: str) -> list:
    """``(slug, fixture name)`` parameters of every ``kind`` fixture of every chapter."""
    return [in_group(slug, name) for slug in CHAPTERS for name in fixtures(slug, kind)]


BY_CHAPTER = [in_group(slug) for slug in CHAPTERS]


@pytest.mark.parametrize("slug", BY_CHAPTER)
def test_reference_gets_full_marks_in_the_shared_kernel(slug):
    reference = graded_variants(slug)[0]
    lost = {k: v for k, v in reference.items() if v[0] < v[1]}
    assert reference and not lost, f"the reference lost points: {lost}"


@pytest.mark.parametrize("slug,kind", [in_group(slug, kind) for slug in CHAPTERS for kind in MINIMUM_PER_PART])
def test_every_code_part_has_fixtures(slug, kind):
    minimum = MINIMUM_PER_PART[kind]
    counts = {gid: 0 for gid in code_parts(slug)}
    for name, (gid, _) in fixtures(slug, kind).items():
        assert gid in counts, f"{kind} fixture {name} names unknown solution cell {gid!r}"
        counts[gid] += 1
    assert counts and all(n >= minimum for n in counts.values()), f"{kind} per part: {counts}"


@pytest.mark.parametrize("slug,fixture", per_fixture("mistakes"))
def test_mistake_loses_points_on_its_part(slug, fixture):
    scores = graded_variants(slug)[1][fixture]
    got, maximum = sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())
    assert maximum > 0, "the part has no test cells"
    assert got < maximum, f"mistake {fixture} kept all {maximum:g} points: {scores}"


@pytest.mark.parametrize("slug,fixture", per_fixture("mistakes"))
def test_mistake_costs_no_points_in_other_parts(slug, fixture):
    """One mistake costs its own points once: with it in place, every later cell runs and
    every test cell of every other part keeps full marks."""
    own = f"test_{fixture.split('--')[0]}"
    later = graded_variants(slug)[3][fixture]
    lost = {k: v for k, v in later.items() if not k.startswith(own) and v[0] < v[1]}
    assert not lost, f"mistake {fixture} also lost points in other parts: {lost}"


@pytest.mark.parametrize("slug,fixture", per_fixture("alternatives"))
def test_alternative_answer_keeps_full_marks(slug, fixture):
    scores = graded_variants(slug)[1][fixture]
    lost = {k: v for k, v in scores.items() if v[0] < v[1]}
    assert scores and not lost, f"correct alternative {fixture} lost points: {lost}"


@pytest.mark.parametrize("slug", BY_CHAPTER)
def test_grading_the_reference_again_gives_the_same_scores_and_output(slug):
    """Each part's reference span ran once in the full run and once after every fixture
    of the part (at least five times in all): the scores and the printed output of its
    test cells must be identical each time, so no test depends on unseeded randomness."""
    for gid, records in graded_variants(slug)[2].items():
        assert len(records) >= 1 + MIN_MISTAKES_PER_PART + MIN_ALTERNATIVES_PER_PART, (gid, len(records))
        for i, record in enumerate(records[1:], start=2):
            diff = {k: (records[0][k], v) for k, v in record.items() if records[0].get(k) != v}
            assert not diff, f"part {gid}: grading run {i} differs from the first: {diff}"
