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

``tests/test_grading.py`` keeps the whole-notebook check through nbgrader for a composite of
the fixtures, so the two ways of grading are compared in every run.
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbgrader.utils import determine_grade

from ae_helpers.course import ROOT
from ae_helpers.grading import GuardedExecute

from nbgrader_harness import nbgrader_meta as meta

FIXTURES = ROOT / "tests" / "fixtures"


def fixtures(slug: str, kind: str) -> dict[str, tuple[str, str]]:
    """fixture name → (grade_id of the solution cell it replaces, its source); kind is
    ``mistakes`` or ``alternatives``."""
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
