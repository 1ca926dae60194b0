"""Grade notebooks with nbgrader itself, in temporary course directories.

``grade(slug, submissions)`` generates the release of chapter ``slug`` from the repository's
``solutions/`` and autogrades every submission (student id → notebook), splitting the
students over one temporary course per CPU core so that the gradings run in parallel. The
configuration is the repository's own ``nbgrader_config.py``.
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ae_helpers.instructor.course import ROOT, nbgrader_env, run_nbgrader

def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_sources(nb) -> dict[str, str]:
    """grade_id → source of every solution cell (code or markdown answer) of ``nb``."""
    return {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells if nbgrader_meta(c).get("solution")}


def auto_test_ids(nb) -> dict[str, float]:
    """grade_id → points of every autograded code cell."""
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0)) for c in nb.cells
            if nbgrader_meta(c).get("grade") and c.cell_type == "code"}


def fill(release_nb, answers: dict[str, str]):
    """A copy of ``release_nb`` with the solution cells named in ``answers`` replaced."""
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in answers and nbgrader_meta(cell).get("solution"):
            cell.source = answers[gid]
    return nb


@dataclass
class Result:
    """Autograde result of one submission: score per grade cell and the feedback HTML."""

    scores: dict[str, float]
    max_scores: dict[str, float]
    feedback: str
    log: str

    @property
    def total(self) -> float:
        return sum(self.scores.values())

    @property
    def max_total(self) -> float:
        return sum(self.max_scores.values())

    def part(self, grade_id: str) -> tuple[float, float]:
        """(score, max) summed over the test cells ``test_<grade_id>*``."""
        ids = [k for k in self.max_scores if k.startswith(f"test_{grade_id}")]
        return sum(self.scores[k] for k in ids), sum(self.max_scores[k] for k in ids)


class TempCourse:
    """A course directory under ``root`` that uses the repository's nbgrader configuration."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        cfg = ROOT / "nbgrader_config.py"
        (self.root / "nbgrader_config.py").write_text(
            f"exec(compile(open({str(cfg)!r}).read(), {str(cfg)!r}, 'exec'))\n")

    def generate(self, slug: str) -> Path:
        """Copy ``solutions/<slug>`` in and generate its release; return the release folder."""
        shutil.copytree(ROOT / "solutions" / slug, self.root / "solutions" / slug, dirs_exist_ok=True)
        run_nbgrader(["generate_assignment", slug, "--force"], self.root)
        return self.root / "exercises" / slug

    def copy_release(self, other: "TempCourse", slug: str) -> Path:
        """Take the release and the gradebook that ``other`` generated for ``slug``."""
        for folder in ("solutions", "exercises"):
            shutil.copytree(other.root / folder / slug, self.root / folder / slug, dirs_exist_ok=True)
        shutil.copy2(other.root / "gradebook.db", self.root / "gradebook.db")
        return self.root / "exercises" / slug

    def submit(self, slug: str, student: str, notebooks: dict[str, object]) -> None:
        folder = self.root / "submitted" / student / slug
        folder.mkdir(parents=True, exist_ok=True)
        for name, nb in notebooks.items():
            if isinstance(nb, (bytes, str)):
                (folder / name).write_bytes(nb if isinstance(nb, bytes) else nb.encode())
            else:
                nbformat.write(nb, folder / name)

    def autograde_popen(self, slug: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "nbgrader", "autograde", slug, "--create", "--force"],
                                cwd=self.root, env=nbgrader_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def results(self, slug: str, log: str, feedback_for=None) -> dict[str, Result]:
        """Scores of every graded student; feedback pages only for ``feedback_for`` (default all)."""
        from nbgrader.api import Gradebook, MissingEntry
        students = sorted(p.name for p in (self.root / "submitted").iterdir())
        others = [s for s in students if feedback_for is not None and s not in feedback_for]
        if len(others) < len(students):
            run_nbgrader(["generate_feedback", slug, "--force"]
                         + ([f"--CourseDirectory.student_id_exclude={','.join(others)}"] if others else []),
                         self.root, check=False)
        out = {}
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            for student in students:
                try:
                    sub = gb.find_submission(slug, student)
                except MissingEntry:
                    continue
                scores, maxes = {}, {}
                for nb in sub.notebooks:
                    for g in nb.grades:
                        if g.cell.cell_type == "code":
                            scores[g.name] = float(g.auto_score or 0.0)
                            maxes[g.name] = float(g.max_score)
                html = "".join(p.read_text() for p in (self.root / "feedback" / student / slug).glob("*.html"))
                out[student] = Result(scores, maxes, html, log)
        return out


def grade(slug: str, submissions: dict[str, dict[str, object]], workers: int | None = None,
          keep: Path | None = None, feedback_for=None) -> tuple[Path, dict[str, Result]]:
    """Autograde ``submissions`` (student → {notebook file name → notebook}) of chapter ``slug``,
    and generate the feedback of the students in ``feedback_for`` (default: all).

    The release is generated once; students are split over ``workers`` temporary courses
    (default: CPU count) that share it and are graded in parallel. Returns (the release
    folder, results by student).
    """
    workers = max(1, min(workers or os.cpu_count() or 1, len(submissions)))
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix=f"grade-{slug}-"))
    courses = [TempCourse(base / f"course{i}") for i in range(workers)]
    release = courses[0].generate(slug)
    for course in courses[1:]:
        course.copy_release(courses[0], slug)
    students = sorted(submissions)
    for i, student in enumerate(students):
        courses[i % workers].submit(slug, student, submissions[student])
    procs = [c.autograde_popen(slug) for c in courses]
    logs = [p.communicate()[0] for p in procs]
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda cl: cl[0].results(slug, cl[1], feedback_for), zip(courses, logs)))
    results = {k: v for part in parts for k, v in part.items()}
    return release, results
