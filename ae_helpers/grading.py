"""nbgrader preprocessors of the course (loaded by nbgrader_config.py; needs nbgrader).

``HideHiddenTests`` runs when feedback is generated: it removes the hidden-test regions from
test cells and drops the traceback frames of a test cell's own code, so that neither the
hidden tests nor the reference implementations inside them reach a student. The error name
and message stay, as do frames from the student's own cells and from libraries.
"""
from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests run here during grading)"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def strip_hidden(source: str) -> str:
    """``source`` with every hidden-test region replaced by one comment line."""
    out, hidden = [], False
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            hidden = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + HIDDEN_NOTE)
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out)


def own_frame(frame: str, execution_count) -> bool:
    """True if a traceback entry shows code of the cell that ran as ``execution_count``.

    IPython writes such entries as ``Cell In[<count>], line <n>`` followed by source lines.
    """
    text = _ANSI.sub("", frame).lstrip()
    return execution_count is not None and text.startswith(f"Cell In[{execution_count}]")


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests (sources and traceback frames) from graded cells before feedback."""

    def preprocess_cell(self, cell, resources, index):
        grade = cell.metadata.get("nbgrader", {}).get("grade", False)
        if cell.cell_type != "code" or not grade:
            return cell, resources
        cell.source = strip_hidden(cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                frames = [f for f in output.get("traceback", [])
                          if not own_frame(f, cell.get("execution_count"))]
                if not frames or not _ANSI.sub("", frames[-1]).startswith(output.get("ename", "")):
                    frames.append(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
                output["traceback"] = frames
        return cell, resources
