"""nbgrader sanitize preprocessors of the course (loaded by nbgrader_config.py; needs nbgrader).

Before autograde executes a submission, nbgrader "sanitizes" it: it clears outputs, removes
duplicated cell ids and restores locked cells from the gradebook. Two of its steps fail on
edits a student can make by accident (copying a test cell, toggling a cell's nbgrader role),
and then the whole notebook is left ungraded with an internal error. The replacements here
turn those edits back into the released notebook instead:

``DropDuplicateIds``
    nbgrader's ``DeduplicateIds`` keeps the last cell of a duplicated grade id and empties the
    nbgrader metadata of the others, which ``OverwriteCells`` then reads as a cell without a
    grade id (``KeyError``). Here the other copies lose the nbgrader metadata altogether and
    become ordinary cells; a cell whose nbgrader metadata has no grade id is treated the same.

``RestoreCellRoles``
    nbgrader's ``OverwriteCells`` restores a locked cell's source, type, lock and points, but
    not whether it is a grade, solution or task cell; a test cell flagged as a solution then
    fails the checksum check (``RuntimeError: Inconsistent checksums``). Here the role flags
    are restored from the gradebook first, so the test runs as released.

Neither can raise a score: what gets graded is the released cell, with the released points.
"""
from __future__ import annotations

from typing import Callable

from nbformat.notebooknode import NotebookNode
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import DeduplicateIds, OverwriteCells
from nbgrader.utils import is_grade, is_locked, is_solution


class DropDuplicateIds(DeduplicateIds):
    """Keep the nbgrader metadata on the last cell of each grade id only (cells run in reverse)."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict,
                        cell_index: int) -> tuple[NotebookNode, dict]:
        """Drop the nbgrader metadata of a repeated (or missing) grade id instead of emptying it."""
        if not (is_grade(cell) or is_solution(cell) or is_locked(cell)):
            return cell, resources
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if grade_id is None or grade_id in self.grade_ids:
            self.log.warning("Cell %s: grade id %r missing or repeated; graded as an ordinary cell",
                             cell_index, grade_id)
            del cell.metadata["nbgrader"]
        else:
            self.grade_ids.add(grade_id)
        return cell, resources


class RestoreCellRoles(OverwriteCells):
    """``OverwriteCells`` that first restores the grade/solution/task flags from the gradebook."""

    def _has(self, finder: Callable[[str, str, str], object], grade_id: str) -> bool:
        try:
            finder(grade_id, self.notebook_id, self.assignment_id)
        except MissingEntry:
            return False
        return True

    def preprocess_cell(self, cell: NotebookNode, resources: dict,
                        cell_index: int) -> tuple[NotebookNode, dict]:
        """Set the cell's grade/solution/task flags to the released ones, then overwrite it."""
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id is not None and self._has(self.gradebook.find_source_cell, grade_id):
            roles = {"grade": self.gradebook.find_grade_cell, "solution": self.gradebook.find_solution_cell,
                     "task": self.gradebook.find_task_cell}
            for flag, finder in roles.items():
                released = self._has(finder, grade_id)
                if bool(meta.get(flag, False)) != released:
                    self.report_change(grade_id, flag, released, meta.get(flag, False))
                    meta[flag] = released
            if meta["grade"] and "points" not in meta:
                meta["points"] = 0.0    # the real points are restored by OverwriteCells
        return super().preprocess_cell(cell, resources, cell_index)
