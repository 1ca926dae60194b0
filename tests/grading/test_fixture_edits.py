"""Mistake fixtures are edits of the current reference, and the loader says so when one no longer fits.

``tests/fixtures/<slug>/mistakes.py`` lists ``(part, what, old, new)`` entries: the reference
solution cell ``part`` with ``old`` replaced by ``new`` (``kernel_grader.fixtures``). Fast: no
kernel runs here; ``test_grading_fixtures.py`` grades the mistakes themselves.
"""
from __future__ import annotations

import nbformat
import pytest

import kernel_grader
import test_grading_fixtures
from ae_helpers.instructor.course import CHAPTERS
from kernel_grader import FixtureError, answer_of, build_mistakes, fixtures, mistake_entries
from nbgrader_harness import solution_sources


def references(slug: str) -> dict[str, str]:
    nb = nbformat.read(kernel_grader.ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4)
    return {gid: answer_of(source) for gid, source in solution_sources(nb).items()}


def occurrences(text: str, old: str) -> int:
    return sum(text.startswith(old, i) for i in range(len(text))) if old else 0


@pytest.mark.parametrize("slug", CHAPTERS)
def test_every_mistake_entry_applies_to_the_current_reference(slug):
    """Each ``old`` occurs exactly once in its reference cell and each mistake changes the cell."""
    refs = references(slug)
    entries = mistake_entries(slug)
    assert entries, f"{slug} has no mistakes"
    for part, what, edits in entries:
        assert part in refs, f"{slug} {part}--{what}: no solution cell {part!r}"
        for old, new in edits:
            assert occurrences(refs[part], old) == 1, f"{slug} {part}--{what}: {old!r} not exactly once"
            assert old != new, f"{slug} {part}--{what}: an edit that changes nothing"
    built = fixtures(slug, "mistakes")
    for name, (part, source) in built.items():
        assert source != refs[part], f"{slug} {name} is the reference"
        assert "BEGIN SOLUTION" not in source and "END SOLUTION" not in source, name


@pytest.mark.parametrize("slug", CHAPTERS)
def test_the_grading_tests_parametrise_one_test_per_entry(slug):
    """test_grading_fixtures grades every entry of mistakes.py once, under ``<part>--<what>``."""
    names = [f"{part}--{what}" for part, what, _ in mistake_entries(slug)]
    for test in ("test_mistake_loses_points_on_its_part", "test_mistake_costs_no_points_in_other_parts"):
        [mark] = [m for m in getattr(test_grading_fixtures, test).pytestmark if m.name == "parametrize"]
        params = [p for p in mark.args[1] if p.values[0] == slug]
        assert sorted(p.values[1] for p in params) == sorted(names), test
        assert {m.args for p in params for m in p.marks} == {(f"fixtures-{slug}",)}, "not in the chapter's xdist group"
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("slug", CHAPTERS)
def test_no_whole_file_mistakes_are_left_behind(slug):
    """A whole-cell file under mistakes/ would be ignored by the loader: there must be none."""
    assert not list((kernel_grader.FIXTURES / slug / "mistakes").glob("*.py"))


REFERENCE = {"part": 'def f(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n    ### END SOLUTION'}


def test_a_mistake_is_the_reference_answer_with_its_edits():
    got = build_mistakes("99_demo", [("part", "triple", [("2 * x", "3 * x")]),
                                     ("part", "both", [("2 * x", "x"), ("return y", "return -y")])], REFERENCE)
    assert got == {"part--both": ("part", 'def f(x):\n    """Twice x."""\n    y = x\n    return -y\n'),
                   "part--triple": ("part", 'def f(x):\n    """Twice x."""\n    y = 3 * x\n    return y\n')}


@pytest.mark.parametrize("edits,message", [
    ([("4 * x", "5 * x")], r"'4 \* x' occurs 0 times"),                     # the reference changed
    ([("x", "z")], r"'x' occurs \d+ times"),                                # ambiguous
    ([("2 * x", "2 * x")], "unchanged"),
    ([("y = 2", "y = 3"), ("2 * x", "3 * x")], "overlap"),
])
def test_the_loader_fails_loudly_naming_the_chapter_the_mistake_and_the_text(edits, message):
    with pytest.raises(FixtureError, match=message) as error:
        build_mistakes("99_demo", [("part", "typo", edits)], REFERENCE)
    assert "99_demo" in str(error.value) and "part--typo" in str(error.value)


def test_the_loader_fails_on_an_unknown_part_and_a_repeated_name():
    with pytest.raises(FixtureError, match="no solution cell 'other'"):
        build_mistakes("99_demo", [("other", "typo", [("x", "z")])], REFERENCE)
    with pytest.raises(FixtureError, match="used twice"):
        build_mistakes("99_demo", [("part", "a", [("2 * x", "3 * x")]), ("part", "a", [("2 * x", "4 * x")])],
                       REFERENCE)


def test_fixtures_reads_mistakes_py_against_the_notebook(tmp_path, monkeypatch):
    """End to end on a synthetic chapter: the entry file, the reference notebook, the error."""
    cell = nbformat.v4.new_code_cell(REFERENCE["part"])
    cell.metadata["nbgrader"] = {"grade_id": "part", "solution": True, "grade": False, "locked": False}
    (tmp_path / "solutions" / "99_demo").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / "solutions" / "99_demo" / "99_demo.ipynb")
    (tmp_path / "fixtures" / "99_demo").mkdir(parents=True)
    entries = tmp_path / "fixtures" / "99_demo" / "mistakes.py"
    monkeypatch.setattr(kernel_grader, "ROOT", tmp_path)
    monkeypatch.setattr(kernel_grader, "FIXTURES", tmp_path / "fixtures")

    entries.write_text('MISTAKES = [("part", "triple", "2 * x", "3 * x")]\n')
    assert fixtures("99_demo", "mistakes") == {
        "part--triple": ("part", 'def f(x):\n    """Twice x."""\n    y = 3 * x\n    return y\n')}

    entries.write_text('MISTAKES = [("part", "stale", "y = 2 * x  # old", "y = 3 * x")]\n')
    with pytest.raises(FixtureError, match=r"chapter 99_demo, mistake part--stale .*'y = 2 \* x  # old' occurs 0"):
        fixtures("99_demo", "mistakes")
