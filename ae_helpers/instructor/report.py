"""Grades of a course directory, read from nbgrader's gradebook: per student, chapter and part.

A *graded part* is one solution cell of a chapter (its ``grade_id``); its points are those of
the test cells ``test_<part>*`` (autograded) or of the answer cell itself (a manually graded
markdown question). ``export_csv`` writes them as a table, ``write_report`` draws the score
distribution of every part of a chapter so that an instructor sees which question the class
failed. Needs nbgrader (the ``[instructor]`` extra).
"""
from __future__ import annotations

import csv
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .course import scripts_first_on_os_path

if TYPE_CHECKING:                       # names for the hints only; nothing imported at run time
    from matplotlib.figure import Figure
    from nbgrader.api import Gradebook
    from traitlets.config import Config


@dataclass
class PartScore:
    """Score of one student on one graded part; ``score`` is None while not (fully) graded."""

    part: str
    score: float | None
    max_score: float
    manual: bool = False


@dataclass
class StudentGrades:
    """One student's grades on one chapter: ``parts`` maps each graded part to its score;
    ``submitted`` is False for a student of the gradebook who handed nothing in."""

    student: str
    chapter: str
    submitted: bool
    parts: dict[str, PartScore] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Points scored over all parts (a part not graded yet counts 0)."""
        return sum(p.score or 0.0 for p in self.parts.values())

    @property
    def max_total(self) -> float:
        """Points available over all parts."""
        return sum(p.max_score for p in self.parts.values())


def part_of(grade_id: str, parts: list[str]) -> str:
    """The graded part a grade cell belongs to: ``test_<part>…`` → the longest matching part."""
    if grade_id in parts:
        return grade_id
    if grade_id.startswith("test_"):
        matches = [p for p in parts if grade_id[len("test_"):].startswith(p)]
        if matches:
            return max(matches, key=len)
        return grade_id[len("test_"):]
    return grade_id


#: Environment variable naming the gradebook server of every ae-course command (a SQLAlchemy
#: URL such as ``postgresql://grader@db.example.org/ae2026``); ``--db-url`` overrides it, and it
#: overrides ``c.CourseDirectory.db_url`` of the course's ``nbgrader_config.py``.
DB_URL_ENV = "AE_GRADEBOOK_URL"


def course_config(course_dir: Path) -> Config:
    """The traitlets config of the course directory (its ``nbgrader_config.py``), with
    ``$AE_GRADEBOOK_URL``, when set, as ``CourseDirectory.db_url`` (so that nbgrader run from
    this process, e.g. ``release``, writes the same gradebook as ``autograde``)."""
    from traitlets.config.loader import PyFileConfigLoader
    path = Path(course_dir) / "nbgrader_config.py"
    if not path.exists():
        raise SystemExit(f"{course_dir} is not a course directory (no nbgrader_config.py): "
                         f"run `ae-course init {course_dir}` first")
    cfg = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    if os.environ.get(DB_URL_ENV):
        cfg.CourseDirectory.db_url = os.environ[DB_URL_ENV]
    return cfg


#: The one cache of this module: (course_id, db_url) of each course config read, keyed by the
#: file's path, modification time and size and ``$AE_GRADEBOOK_URL``, so that an edited config or
#: another gradebook URL is read afresh (running a config costs a traitlets load per call otherwise).
_configured: dict[tuple, tuple[str, str]] = {}


def _course_settings(course_dir: Path) -> tuple[str, str]:
    """(course_id, db_url or "") of the course's config; it is run once per change of the file
    (or of ``$AE_GRADEBOOK_URL``)."""
    path = Path(course_dir).resolve() / "nbgrader_config.py"
    stat = path.stat() if path.exists() else None
    key = (str(path), stat and (stat.st_mtime_ns, stat.st_size), os.environ.get(DB_URL_ENV, ""))
    if key not in _configured:
        cd = course_config(course_dir).CourseDirectory
        _configured[key] = (str(cd.get("course_id", "default_course")), str(cd.get("db_url", "") or ""))
    return _configured[key]


def db_url(course_dir: Path, timeout: float | None = None, url: str | None = None) -> str:
    """The URL of the course's gradebook: ``url`` if given (``--db-url``), else
    ``$AE_GRADEBOOK_URL``, else ``c.CourseDirectory.db_url`` of its ``nbgrader_config.py``, else
    nbgrader's default, the sqlite file ``gradebook.db`` of the course directory.

    ``timeout``: seconds a sqlite writer waits for the lock (a busy timeout); a server database
    (PostgreSQL, MySQL) takes concurrent writers and gets none.
    """
    from sqlalchemy.engine import make_url
    configured = (Path(course_dir) / "nbgrader_config.py").exists()
    url = url or (_course_settings(course_dir)[1] if configured else os.environ.get(DB_URL_ENV)) \
        or f"sqlite:///{(Path(course_dir) / 'gradebook.db').resolve()}"
    if timeout and make_url(url).get_backend_name() == "sqlite":
        return make_url(url).update_query_dict({"timeout": f"{timeout:g}"}) \
            .render_as_string(hide_password=False)
    return url


def course_id(course_dir: Path) -> str:
    """The nbgrader course_id of the course directory (its config is run once per change)."""
    return _course_settings(course_dir)[0]


def open_gradebook(course_dir: Path, timeout: float | None = 60, url: str | None = None) -> Gradebook:
    """nbgrader's Gradebook of the course directory (created if missing), at ``db_url(course_dir,
    timeout, url)``."""
    from nbgrader.api import Gradebook
    target = db_url(course_dir, timeout, url)
    with scripts_first_on_os_path():
        try:
            return Gradebook(target, course_id(course_dir))
        except ModuleNotFoundError as err:      # the database driver, e.g. psycopg for PostgreSQL
            package = _DRIVERS.get(err.name or "", err.name)
            raise SystemExit(f"the gradebook {_safe(target)} needs the Python module {err.name!r}: "
                             f"pip install {package!r}" + (" (in the [instructor] extra)" if err.name == "psycopg" else "")
                             ) from None


#: Python package of each database driver SQLAlchemy may ask for.
_DRIVERS = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "pymysql": "pymysql",
            "MySQLdb": "mysqlclient"}


def _safe(url: str) -> str:
    """``url`` with its password, if any, replaced by ***."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def chapter_grades(gb: Gradebook, chapter: str) -> list[StudentGrades]:
    """Every student of the gradebook on ``chapter`` (unsubmitted ones with score None)."""
    from nbgrader.api import MissingEntry
    assignment = gb.find_assignment(chapter)
    layout: dict[str, PartScore] = {}          # part → template (max points, manual?)
    for nb in assignment.notebooks:
        solutions = [c.name for c in nb.solution_cells]
        for cell in nb.grade_cells:
            part = part_of(cell.name, solutions)
            old = layout.get(part)
            manual = cell.cell_type == "markdown"
            layout[part] = PartScore(part, None, (old.max_score if old else 0.0) + float(cell.max_score),
                                     manual or bool(old and old.manual))
    out = []
    for student in sorted(s.id for s in gb.students):
        parts = {k: PartScore(k, None, v.max_score, v.manual) for k, v in layout.items()}
        try:
            sub = gb.find_submission(chapter, student)
        except MissingEntry:
            out.append(StudentGrades(student, chapter, False, parts))
            continue
        sums: dict[str, list] = {}
        for snb in sub.notebooks:
            solutions = [c.name for c in snb.notebook.solution_cells]
            for g in snb.grades:
                pending = g.needs_manual_grade or (g.auto_score is None and g.manual_score is None)
                sums.setdefault(part_of(g.name, solutions), []).append(None if pending else g.score)
        for part, scores in sums.items():
            if part in parts and all(s is not None for s in scores):
                parts[part].score = float(sum(scores))
        out.append(StudentGrades(student, chapter, True, parts))
    return out


def all_grades(course_dir: Path, chapters: list[str] | None = None) -> list[StudentGrades]:
    """Grades of every student on every chapter in the gradebook (or on ``chapters``)."""
    with open_gradebook(course_dir) as gb:
        names = chapters or sorted(a.name for a in gb.assignments)
        return [g for ch in names for g in chapter_grades(gb, ch)]


def export_csv(grades: list[StudentGrades], out: Path) -> Path:
    """One row per student × chapter × graded part, plus a ``TOTAL`` row per student × chapter.

    Columns: student_id, chapter, part, score, max_score, status (graded / not graded /
    needs manual grading / not submitted).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "chapter", "part", "score", "max_score", "status"])
        for g in grades:
            for p in g.parts.values():
                status = ("not submitted" if not g.submitted else "graded" if p.score is not None
                          else "needs manual grading" if p.manual else "not graded")
                w.writerow([g.student, g.chapter, p.part, "" if p.score is None else f"{p.score:g}",
                            f"{p.max_score:g}", status])
            w.writerow([g.student, g.chapter, "TOTAL", f"{g.total:g}" if g.submitted else "",
                        f"{g.max_total:g}", "submitted" if g.submitted else "not submitted"])
    return out


def part_summary(grades: list[StudentGrades]) -> list[dict]:
    """Per part (in notebook order): max, graded count, mean, median, full/partial/zero counts."""
    subs = [g for g in grades if g.submitted]
    rows = []
    for part in (subs[0].parts if subs else (grades[0].parts if grades else {})):
        scores = [g.parts[part].score for g in subs]
        done = [s for s in scores if s is not None]
        mx = (subs or grades)[0].parts[part].max_score
        rows.append(dict(part=part, max=mx, manual=(subs or grades)[0].parts[part].manual,
                         graded=len(done), ungraded=len(scores) - len(done),
                         mean=statistics.fmean(done) if done else None,
                         median=statistics.median(done) if done else None,
                         full=sum(s >= mx for s in done), zero=sum(s <= 0 for s in done),
                         partial=sum(0 < s < mx for s in done)))
    return rows


def markdown_table(chapter: str, grades: list[StudentGrades]) -> str:
    """The report's markdown: one table row per part (``part_summary``) and the class's total."""
    rows = part_summary(grades)
    subs = [g for g in grades if g.submitted]
    lines = [f"# {chapter}: scores per graded part", "",
             f"{len(subs)} submissions of {len(grades)} students.", "",
             "| part | max | mean | median | full marks | partial | zero | not graded |",
             "|------|----:|-----:|-------:|-----------:|--------:|-----:|-----------:|"]
    fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    for r in rows:
        name = r["part"] + (" (manual)" if r["manual"] else "")
        lines.append(f"| {name} | {r['max']:g} | {fmt(r['mean'])} | {fmt(r['median'])} | {r['full']} | "
                     f"{r['partial']} | {r['zero']} | {r['ungraded']} |")
    if subs:
        totals = [g.total for g in subs]
        lines += ["", f"Total: mean {statistics.fmean(totals):.2f} / {subs[0].max_total:g}, "
                      f"median {statistics.median(totals):.2f}."]
    return "\n".join(lines) + "\n"


def figure(chapter: str, grades: list[StudentGrades]) -> Figure:
    """Stacked horizontal bar per part: share of submissions with full, partial, zero marks."""
    from matplotlib.figure import Figure    # no pyplot: works headless, leaves no open figures
    rows = part_summary(grades)
    n = max(1, len([g for g in grades if g.submitted]))
    fig = Figure(figsize=(7.5, 0.45 * len(rows) + 1.6), dpi=100)
    ax = fig.subplots()
    labels = [f"{r['part']} ({r['max']:g} pt{'s' if r['max'] != 1 else ''}{', manual' if r['manual'] else ''})"
              for r in rows]
    y = list(range(len(rows)))[::-1]
    left = [0.0] * len(rows)
    for key, colour, name in (("full", "#2e7d32", "full marks"), ("partial", "#f9a825", "partial"),
                              ("zero", "#c62828", "zero"), ("ungraded", "#9e9e9e", "not graded")):
        widths = [100.0 * r[key] / n for r in rows]
        ax.barh(y, widths, left=left, color=colour, label=name, height=0.7)
        for yi, l0, w in zip(y, left, widths):
            if w >= 6:
                ax.text(l0 + w / 2, yi, f"{round(w * n / 100)}", ha="center", va="center", fontsize=8,
                        color="white" if key != "partial" else "black")
        left = [a + b for a, b in zip(left, widths)]
    for yi, r in zip(y, rows):
        if r["mean"] is not None:
            ax.text(101, yi, f"mean {r['mean']:.1f}/{r['max']:g}", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=9)
    ax.set_xlim(0, 122)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel(f"% of the {n} submissions")
    ax.set_title(f"{chapter}: score per graded part ({n} submissions)", fontsize=10, pad=20)
    ax.legend(ncol=4, fontsize=8, loc="lower center", bbox_to_anchor=(0.41, 1.0), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines["bottom"].set_bounds(0, 100)
    fig.tight_layout()
    return fig


def write_report(course_dir: Path, chapter: str, out: Path | None = None) -> tuple[Path, Path]:
    """Write ``<out>/<chapter>_report.png`` and ``<out>/<chapter>_report.md``; return both paths."""
    out = Path(out) if out else Path(course_dir) / "reports"
    out.mkdir(parents=True, exist_ok=True)
    grades = all_grades(course_dir, [chapter])
    png, md = out / f"{chapter}_report.png", out / f"{chapter}_report.md"
    figure(chapter, grades).savefig(png, bbox_inches="tight")
    md.write_text(markdown_table(chapter, grades))
    return png, md
