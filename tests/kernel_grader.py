"""Grade many one-cell variants of a chapter's reference solution in one shared kernel.

Autograding a whole submission through nbgrader costs a fresh kernel, the torch import and
every training cell (about 10 s here). A mistake or alternative fixture changes one solution
cell, and its verdict is read from that part's test cells only, so it can share a kernel:

1. the reference notebook (``solutions/``) runs once, top to bottom, with the executor
   autograde uses (``GuardedExecute``) and the environment nbgrader sets;
2. for a fixture of part P, the *span* of P runs again — P's solution cell with the fixture's
   source, then every cell up to P's last test cell — and the test cells are scored with
   nbgrader's own ``determine_grade`` after stderr is dropped, as the course config does;
3. the span runs once more with the reference source, and its test cells must pass again,
   which shows the kernel is back in the reference state before the next fixture. These
   re-runs are also re-gradings of the reference: their scores and printed output must equal
   the first run's (determinism).

``tests/grading/test_grading.py`` keeps the whole-notebook check through nbgrader for a composite of
the fixtures, so the two ways of grading are compared in every run.
"""
from __future__ import annotations

import copy
import os
import re
import runpy
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbgrader.utils import determine_grade

from ae_helpers.instructor.course import ROOT
from ae_helpers.instructor.preprocessors import GuardedExecute

from nbgrader_harness import nbgrader_meta as meta
from nbgrader_harness import solution_sources

FIXTURES = ROOT / "tests" / "fixtures"


class FixtureError(ValueError):
    """A mistake fixture that no longer fits the reference solution it edits."""


_SOLUTION_MARKER = re.compile(r"[ \t]*### (BEGIN|END) SOLUTION[ \t]*")


def answer_of(source: str) -> str:
    """A solution cell as a student's answer: the reference without its solution markers."""
    return "".join(line for line in source.splitlines(keepends=True)
                   if not _SOLUTION_MARKER.fullmatch(line.rstrip("\n")))


def apply_edits(reference: str, edits, where: str) -> str:
    """``reference`` with each ``old`` of ``edits`` [(old, new), ...] replaced by its ``new``.

    Every ``old`` must occur exactly once in ``reference``, the edits may not overlap, and the
    result must differ from ``reference``; otherwise FixtureError, which names ``where``."""
    spans = []
    for old, new in edits:
        found, i = [], reference.find(old) if old else -1
        while i >= 0:
            found.append(i)
            i = reference.find(old, i + 1)
        if len(found) != 1:
            fix = ("the reference has changed since the mistake was written: make the entry's old "
                   "(and new) text fit the reference again" if not found else
                   "add a neighbouring line to old (and new) so that it names one place")
            raise FixtureError(f"{where}: the text {old!r} occurs {len(found)} times in the reference "
                               f"cell, not once; {fix}")
        spans.append((found[0], found[0] + len(old), new))
    spans.sort()
    pieces, end = [], 0
    for start, stop, new in spans:
        if start < end:
            raise FixtureError(f"{where}: two of its edits overlap in the reference cell")
        pieces += [reference[end:start], new]
        end = stop
    result = "".join(pieces) + reference[end:]
    if result == reference:
        raise FixtureError(f"{where}: the edit leaves the reference cell unchanged")
    return result


def mistake_entries(slug: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(part, what, [(old, new), ...]) of every entry of ``tests/fixtures/<slug>/mistakes.py``."""
    path = FIXTURES / slug / "mistakes.py"
    if not path.exists():
        return []
    out = []
    for entry in runpy.run_path(str(path))["MISTAKES"]:
        if len(entry) == 4:
            part, what, old, new = entry
            edits = [(old, new)]
        elif len(entry) == 3 and isinstance(entry[2], list):
            part, what, edits = entry
        else:
            raise FixtureError(f"{path}: an entry is (part, what, old, new) or (part, what, [(old, new), ...]), "
                               f"not {entry!r:.200}")
        out.append((part, what, [tuple(e) for e in edits]))
    return out


def build_mistakes(slug: str, entries, references: dict[str, str]) -> dict[str, tuple[str, str]]:
    """name → (part, source) of ``entries`` applied to ``references`` (grade_id → reference cell)."""
    out = {}
    for part, what, edits in entries:
        name = f"{part}--{what}"
        where = f"chapter {slug}, mistake {name} (tests/fixtures/{slug}/mistakes.py)"
        if name in out:
            raise FixtureError(f"{where}: the name is used twice")
        if part not in references:
            raise FixtureError(f"{where}: solutions/{slug}/{slug}.ipynb has no solution cell {part!r}")
        out[name] = (part, apply_edits(answer_of(references[part]), edits, where))
    return dict(sorted(out.items()))


def fixtures(slug: str, kind: str) -> dict[str, tuple[str, str]]:
    """fixture name → (grade_id of the solution cell it replaces, its source); kind is
    ``mistakes`` or ``alternatives``.

    Alternatives are whole files, ``alternatives/<grade_id>--<what>.py``. Mistakes are edits of
    the current reference (``mistakes.py``, see ``build_mistakes``): a mistake whose text no
    longer fits the reference raises FixtureError instead of testing an old cell."""
    if kind == "mistakes":
        nb = nbformat.read(ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4)
        return build_mistakes(slug, mistake_entries(slug), solution_sources(nb))
    return {p.stem: (p.stem.split("--")[0], p.read_text())
            for p in sorted((FIXTURES / slug / kind).glob("*.py"))}


def stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.output_type == "stream" and o.get("name") == "stdout")


def score(cell) -> tuple[float, float]:
    """nbgrader's score of an executed test cell, stderr dropped as by the course config."""
    cell = copy.deepcopy(cell)
    cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.get("name") == "stderr")]
    got, maximum = determine_grade(cell)
    return float(got or 0.0), float(maximum)


class RestoreError(RuntimeError):
    """The reference span failed after a fixture ran: the shared kernel cannot be trusted."""


class SharedKernelGrader:
    """The reference notebook of ``slug`` executed in one kernel that stays up for the fixtures."""

    def __init__(self, slug: str, timeout: int = 120):
        self.slug = slug
        self.nb = nbformat.read(ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"kernel-{slug}-"))
        shutil.copytree(ROOT / "solutions" / slug, self.workdir, dirs_exist_ok=True)
        self.client = GuardedExecute(timeout=timeout)
        # nbclient writes each executed cell back into its notebook: give it a copy of its own.
        NotebookClient.__init__(self.client, copy.deepcopy(self.nb))
        self.client.reset_execution_trackers()
        self.client.resources = {"metadata": {"path": str(self.workdir)}}
        self.client.skip_cells_with_tag = "never-skip"
        self._context = None
        self._dirty_from: int | None = None    # first cell left in a variant's state, if any
        self.reference: dict[str, tuple[float, float]] = {}
        #: grade_id of a part → one record per time its reference span ran: {test id: (score, stdout)}
        self.reference_runs: dict[str, list[dict]] = {}

    def __enter__(self):
        saved = os.environ.get("NBGRADER_EXECUTION")
        os.environ["NBGRADER_EXECUTION"] = "autograde"   # what nbgrader sets: fast mode on
        try:
            self._context = self.client.setup_kernel()
            self._context.__enter__()
        finally:
            if saved is None:
                os.environ.pop("NBGRADER_EXECUTION")
            else:
                os.environ["NBGRADER_EXECUTION"] = saved
        executed = [self.client.execute_cell(copy.deepcopy(cell), i) for i, cell in enumerate(self.nb.cells)]
        self.reference = {meta(c)["grade_id"]: score(c) for c in executed
                          if meta(c).get("grade") and c.cell_type == "code"}
        for c in executed:
            if meta(c).get("solution") and c.cell_type == "code":
                gid = meta(c)["grade_id"]
                self.reference_runs[gid] = [{meta(t)["grade_id"]: (score(t), stdout(t)) for t in executed
                                             if meta(t).get("grade_id", "").startswith(f"test_{gid}")}]
        return self

    def __exit__(self, *exc):
        self._context.__exit__(*exc)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def span(self, grade_id: str) -> range:
        """Indices from solution cell ``grade_id`` to its last test cell ``test_<grade_id>*``."""
        ids = [meta(c).get("grade_id", "") for c in self.nb.cells]
        start = ids.index(grade_id)
        tests = [i for i, g in enumerate(ids) if g.startswith(f"test_{grade_id}")]
        if not tests or tests[-1] < start:
            raise ValueError(f"part {grade_id!r} has no test cell test_{grade_id}* after it")
        return range(start, tests[-1] + 1)

    def _run_span(self, grade_id: str, source: str) -> dict[str, tuple[tuple[float, float], str]]:
        """Run the span of ``grade_id`` with ``source`` in its solution cell: test id → (score, stdout)."""
        span = self.span(grade_id)
        results = {}
        for i in span:
            cell = copy.deepcopy(self.nb.cells[i])
            if i == span.start:
                cell.source = source
            self.client.execute_cell(cell, i)
            gid = meta(cell).get("grade_id", "")
            if meta(cell).get("grade") and gid.startswith(f"test_{grade_id}"):
                results[gid] = (score(cell), stdout(cell))
        return results

    def _run_cells(self, cells: range) -> dict[str, tuple[float, float]]:
        """Run ``cells`` as they stand in the reference; scores of the test cells among them."""
        scores = {}
        for i in cells:
            cell = copy.deepcopy(self.nb.cells[i])
            self.client.execute_cell(cell, i)
            if meta(cell).get("grade") and cell.cell_type == "code":
                scores[meta(cell)["grade_id"]] = score(cell)
        return scores

    def _restore_before(self, start: int) -> None:
        """Re-run with the reference the cells from the first one a variant's rest left changed
        up to ``start``, so that a span starting there sees the reference state."""
        if self._dirty_from is not None and self._dirty_from < start:
            self._run_cells(range(self._dirty_from, start))
        self._dirty_from = None if self._dirty_from is None else max(self._dirty_from, start)

    def grade_variant(self, grade_id: str, source: str,
                      rest: dict | None = None) -> dict[str, tuple[float, float]]:
        """Scores of the test cells of ``grade_id`` with its solution cell replaced by ``source``.

        ``rest``: a dict to fill with the scores of every test cell after the span, run with the
        variant in place (the cells between and the later parts' reference answers included),
        which shows whether one mistake costs points in other parts too.
        """
        span = self.span(grade_id)
        self._restore_before(span.start)
        scores = {k: v[0] for k, v in self._run_span(grade_id, source).items()}
        if rest is not None:
            rest.update(self._run_cells(range(span.stop, len(self.nb.cells))))
            self._dirty_from = span.stop
        reference_source = self.nb.cells[self.span(grade_id).start].source
        again = self._run_span(grade_id, reference_source)
        self.reference_runs.setdefault(grade_id, []).append(again)
        lost = {k: v[0] for k, v in again.items() if v[0][0] < v[0][1]}
        if lost:
            raise RestoreError(f"{self.slug}: the reference lost {lost} when re-run after a variant "
                               f"of {grade_id!r}; a cell in its span depends on state it does not set")
        return scores
