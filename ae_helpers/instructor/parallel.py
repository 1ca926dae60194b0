"""Autograde a chapter's submissions in parallel, with nbgrader, in one course directory.

Design (nbgrader's sqlite gradebook takes one writer at a time):

- the students are dealt round-robin into ``workers`` shares; each share is graded by its own
  ``nbgrader autograde`` process, restricted to it with ``CourseDirectory.student_id_exclude``.
  All processes write the course's one gradebook through a sqlite busy timeout
  (``sqlite:///…/gradebook.db?timeout=…``): a writer waits for the lock instead of failing.
  nbgrader's writes are short (create the submission, then save a notebook's grades), so the
  wait is milliseconds, and formgrader sees every grade at once;
- before grading, every student is created in the gradebook by this process (no concurrent
  creation), and every notebook is parsed: one that is not valid notebook JSON gets zero and a
  clear line, without starting nbgrader;
- a submission counts as graded when its autograded notebook exists *and* the gradebook holds a
  score for every autograded cell. Such submissions are skipped unless ``force``; anything else
  (never graded, or cut off by an interruption) is graded again from scratch, so an interrupted
  run loses nothing when resumed;
- a hanging cell is stopped by nbgrader (``Execute.timeout``) and costs that cell; a student whose
  worker died or passed its wall-clock limit is graded again alone, so a submission that takes
  down its worker (memory, output) costs only that student.

Several machines (issue 14, part 3): ``shard=(K, N)`` grades only the students whose
``shard_index`` (sha256 of the id, mod N) is K - 1, so N machines, each with its own copy of the
course directory and ``submitted/``, grade one chapter together into one gradebook on a database
server (``db_url``, e.g. PostgreSQL; ``report.db_url`` says where it comes from). The share is a
function of the student id alone, whatever each machine's folder holds. Each shard creates only
its own students, and survives a concurrent creation of the same one (a unique-key error: find
it instead); everything else nbgrader's autograde writes belongs to one student's submission
(the assignment, its notebooks and cells are written at release), so two shards never write one
row. An interrupted shard, run again, grades only what is missing (the rule above).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .report import course_config, open_gradebook
from .report import db_url as gradebook_url

#: Characters nbgrader cannot take in a student id (glob and list syntax of its options).
_BAD_ID = re.compile(r"[,*?\[\]\s/\\]")


@dataclass
class Outcome:
    """Result of one student: ``status`` is 'graded', 'skipped' (graded before) or 'failed'."""

    student: str
    status: str
    score: float | None = None
    max_score: float | None = None
    message: str = ""

    def line(self, width: int = 12) -> str:
        """One line of ``ae-course autograde``'s summary: student (padded to ``width``), score, status."""
        score = "" if self.score is None else f"{self.score:g}/{self.max_score:g}"
        status = {"graded": "ok", "skipped": "ok (graded before)", "failed": "FAILED"}[self.status]
        return f"{self.student:<{width}} {score:>9}  {status}" + (f": {self.message}" if self.message else "")


def shard_index(student: str, n: int) -> int:
    """0-based shard of ``student`` among ``n``: sha256 of the id mod n (the same on every
    machine and in every Python, unlike ``hash()``)."""
    return int.from_bytes(hashlib.sha256(student.encode("utf-8")).digest()[:8], "big") % n


def in_shard(student: str, shard: tuple[int, int] | None) -> bool:
    """Whether ``student`` belongs to ``shard`` = (K, N), K 1-based; every student when None."""
    return shard is None or shard_index(student, shard[1]) == shard[0] - 1


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → (K, N) with 1 ≤ K ≤ N; a ValueError that says what is wrong otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise ValueError(f"--shard takes K/N, e.g. 1/4 for the first of 4 machines; got {text!r}")
    return check_shard((int(m[1]), int(m[2])))


def check_shard(shard: object) -> tuple[int, int]:
    """``shard`` as a valid (K, N) of whole numbers, 1 ≤ K ≤ N; a ValueError that says what is
    wrong otherwise (``shard`` may be anything: an unusable value is reported, not crashed on)."""
    try:
        k, n = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise ValueError(f"shard must be (K, N), two whole numbers; got {shard!r}") from None
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"shard {k}/{n} does not exist: K counts from 1 to N (N ≥ 1), "
                         f"e.g. 1/{max(n, 2)} … {max(n, 2)}/{max(n, 2)}")
    return k, n


def submissions(course_dir: Path, chapter: str) -> dict[str, list[Path]]:
    """student → submitted notebooks of ``chapter`` (``submitted/<student>/<chapter>/*.ipynb``)."""
    out = {}
    for folder in sorted((Path(course_dir) / "submitted").glob(f"*/{chapter}")):
        if folder.is_dir():
            out[folder.parent.name] = sorted(folder.glob("*.ipynb"))
    return out


def notebook_problem(path: Path) -> str | None:
    """Why ``path`` cannot be graded (not JSON, not a notebook), or None if it can."""
    import nbformat
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return f"{path.name} cannot be read ({type(err).__name__}: {err})"
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        return f"{path.name} is not valid notebook JSON ({err.msg} at line {err.lineno}, column {err.colno})"
    try:
        nbformat.reads(text, as_version=4)
    except Exception as err:  # nbformat raises several kinds for a non-notebook
        return f"{path.name} is JSON but not a notebook ({type(err).__name__}: {str(err)[:120]})"
    return None


def _graded(gb, course_dir: Path, chapter: str, student: str, notebooks: list[Path]) -> bool:
    from nbgrader.api import MissingEntry
    try:
        sub = gb.find_submission(chapter, student)
    except MissingEntry:
        return False
    known = {nb.name for nb in sub.notebooks}
    for path in notebooks:
        if path.stem in known and not (Path(course_dir) / "autograded" / student / chapter / path.name).exists():
            return False
    return all(g.auto_score is not None for nb in sub.notebooks for g in nb.grades
               if g.cell.cell_type == "code")


def _ensure_student(gb, student: str) -> None:
    """Create ``student`` in the gradebook unless it is there. Another shard (or machine) may
    create the same student at the same moment: the loser's insert fails on the unique key,
    nbgrader rolls its session back, and the student is found instead."""
    from nbgrader.api import InvalidEntry, MissingEntry
    for _ in range(3):
        try:
            gb.find_student(student)
            return
        except MissingEntry:
            pass
        try:
            gb.add_student(student)
            return
        except InvalidEntry:            # IntegrityError: created meanwhile by someone else
            gb.db.rollback()
    gb.find_student(student)            # still missing after three tries: say so (MissingEntry)


def _score(gb, chapter: str, student: str) -> tuple[float, float]:
    sub = gb.find_submission(chapter, student)
    return float(sub.score or 0.0), float(sub.max_score or 0.0)


def _manual_note(gb, chapter: str, student: str) -> str:
    sub = gb.find_submission(chapter, student)
    pending = sum(float(g.max_score) for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade)
    return f"{pending:g} pts to grade by hand (formgrader)" if pending else ""


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _record_zero(gb, course_dir: Path, chapter: str, student: str) -> None:
    """Zero for every cell of a submission that cannot be graded (the gradebook lists it)."""
    import warnings
    with warnings.catch_warnings():     # nbgrader's own autoflush warnings while it adds a submission
        warnings.simplefilter("ignore")
        sub = gb.update_or_create_submission(chapter, student)
    for nb in sub.notebooks:
        for g in nb.grades:
            g.auto_score = 0.0
            g.needs_manual_grade = False
    gb.db.commit()
    shutil.rmtree(Path(course_dir) / "autograded" / student / chapter, ignore_errors=True)


def _notes(course_dir: Path, chapter: str, student: str, timeout: int | None) -> str:
    """Things an instructor should know about a graded notebook (cells stopped, kernel died)."""
    from .preprocessors import NOT_RUN_PREFIX    # needs nbgrader, which grading has anyway
    notes = []
    for path in sorted((Path(course_dir) / "autograded" / student / chapter).glob("*.ipynb")):
        try:
            nb = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for i, cell in enumerate(nb.get("cells", [])):
            name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {i + 1}"
            for out in cell.get("outputs", []):
                ename = out.get("ename", "")
                if ename == "CellTimeoutError":
                    limit = f" after {timeout} s" if timeout else ""
                    notes.append(f"{name} stopped{limit} (Execute.timeout)")
                elif str(out.get("evalue", "")).startswith(NOT_RUN_PREFIX):
                    continue     # a cell after the one where the kernel died
                elif ename == "DeadKernelError" or "Kernel died" in str(out.get("evalue", "")):
                    notes.append(f"{name}: the kernel died")
                elif out.get("output_type") == "stream" and "... Output truncated ..." in out.get("text", ""):
                    notes.append(f"{name}: output truncated")
    return "; ".join(dict.fromkeys(notes))


def _error_from_log(log: str, student: str, chapter: str) -> str | None:
    """Last line of the traceback nbgrader logged for ``student``, if it logged one."""
    lines = log.splitlines()
    marker = re.compile(r"There was an error processing assignment: .*[/\\]" + re.escape(student)
                        + r"[/\\]" + re.escape(chapter) + r"\s*$")
    for i, line in enumerate(lines):
        if marker.search(line):
            tail = []
            for nxt in lines[i + 1:]:
                if nxt.startswith("[") and "Traceback" not in nxt and tail:
                    break
                tail.append(nxt)
            body = [t.strip() for t in tail if t.strip() and not t.startswith("[")]
            return body[-1] if body else "nbgrader could not grade it"
        if "kernel became unresponsive" in line and student in line:
            return "the kernel became unresponsive (an endless loop that cannot be interrupted?)"
    return None


def worker_db(url: str) -> tuple[str, dict[str, str]]:
    """(URL for a worker's command line, environment it needs): a password moves from the URL to
    ``PGPASSWORD`` (PostgreSQL's client reads it), so that it is not shown by ``ps``."""
    from sqlalchemy.engine import URL, make_url
    u = make_url(url)
    if u.password is None or u.get_backend_name() != "postgresql":
        return url, {}
    bare = URL.create(u.drivername, u.username, None, u.host, u.port, u.database, u.query)
    return bare.render_as_string(hide_password=False), {"PGPASSWORD": str(u.password)}


def _launch(course_dir: Path, chapter: str, share: list[str], everyone: list[str], log_path: Path,
            timeout: int | None, threads: int, url: str | None = None) -> subprocess.Popen:
    from .course import nbgrader_env
    others = [s for s in everyone if s not in share]
    worker_url, worker_env = worker_db(gradebook_url(course_dir, timeout=300, url=url))
    cmd = [sys.executable, "-m", "nbgrader", "autograde", chapter, "--force",
           f"--CourseDirectory.db_url={worker_url}",
           "--Autograde.create_student=False"]
    if others:
        cmd.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
    if timeout:
        cmd.append(f"--Execute.timeout={int(timeout)}")
    env = nbgrader_env()
    env.update(worker_env)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, str(threads))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        return subprocess.Popen(cmd, cwd=course_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _run_round(course_dir, chapter, shares, everyone, log_dir, timeout, student_timeout, tag, url=None):
    """Run one nbgrader process per share; return [(share, log text, finished normally)]."""
    threads = max(1, (os.cpu_count() or 1) // max(1, len(shares)))
    procs = []
    for i, share in enumerate(shares):
        log_path = log_dir / f"{tag}{i}.log"
        extra = (url,) if url else ()       # (tests stand in a _launch that takes no url)
        proc = _launch(course_dir, chapter, share, everyone, log_path, timeout, threads, *extra)
        procs.append((share, log_path, proc, time.monotonic() + student_timeout * len(share)))
    results = []
    try:
        for share, log_path, proc, deadline in procs:
            finished = True
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                finished = False
                _stop(proc)
            if proc.returncode not in (0, 1):   # 1: nbgrader reports a student's error; else it died
                finished = False
            results.append((share, log_path.read_text(errors="replace"), finished))
    except BaseException:                       # Ctrl-C: stop every worker (own sessions) before leaving
        for _, _, proc, _ in procs:
            _stop(proc)
        raise
    return results


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def autograde(course_dir: Path, chapter: str, workers: int | None = None, force: bool = False,
              timeout: int | None = None, student_timeout: float = 1800.0, say: Callable[[str], object] = print,
              shard: tuple[int, int] | None = None, db_url: str | None = None) -> list[Outcome]:
    """Autograde every submission of ``chapter`` in ``course_dir`` with ``workers`` processes.

    ``timeout``: seconds per cell (default: the course's ``Execute.timeout``);
    ``student_timeout``: wall-clock seconds per submission before its worker is stopped;
    ``shard``: (K, N), grade only the students of shard K of N (``in_shard``);
    ``db_url``: the gradebook (default: ``report.db_url``: $AE_GRADEBOOK_URL, the course's
    ``c.CourseDirectory.db_url``, or its sqlite file).
    Returns one Outcome per student (of the shard), in student order.

    Steps: ``_triage`` (what cannot or need not be graded), ``_grade`` (the workers, then
    the students of a worker that stopped, alone), ``_results`` (what the gradebook now holds).
    """
    course_dir = Path(course_dir).resolve()
    if shard is not None:
        try:
            shard = check_shard(shard)
        except ValueError as err:
            raise SystemExit(str(err)) from None
    limit = timeout or course_config(course_dir).Execute.get("timeout")
    subs = submissions(course_dir, chapter)
    if not subs:
        raise SystemExit(f"no submissions: expected {course_dir}/submitted/<student_id>/{chapter}/*.ipynb")
    mine = {s: nbs for s, nbs in subs.items() if in_shard(s, shard)}
    if shard:
        say(f"shard {shard[0]}/{shard[1]}: {len(mine)} of the {len(subs)} submissions of {chapter}")
    run = _Run(course_dir, chapter, subs, timeout, student_timeout,
               f"shard{shard[0]}of{shard[1]}-" if shard else "", db_url, say)
    outcomes, todo = _triage(run, mine, force)
    errors = _grade(run, todo, workers, len(mine))
    outcomes.update(_results(run, todo, errors, limit))
    return [outcomes[s] for s in sorted(outcomes)]


@dataclass(frozen=True)
class _Run:
    """What every step of one ``autograde`` run shares."""

    course_dir: Path
    chapter: str
    subs: dict[str, list[Path]]     # every student's submitted notebooks, of every shard
    timeout: int | None
    student_timeout: float
    tag: str                        # prefix of the worker logs' names
    db_url: str | None
    say: Callable[[str], object]

    @property
    def log_dir(self) -> Path:
        return self.course_dir / "logs" / "autograde" / self.chapter

    def round(self, shares: list[list[str]], tag: str) -> list[tuple[list[str], str, bool]]:
        """``_run_round`` of ``shares``, logs named ``<self.tag><tag><i>.log``."""
        return _run_round(self.course_dir, self.chapter, shares, sorted(self.subs), self.log_dir, self.timeout,
                          self.student_timeout, self.tag + tag, self.db_url)


def _triage(run: _Run, mine: dict[str, list[Path]], force: bool) -> tuple[dict[str, Outcome], list[str]]:
    """(outcomes of the students not to grade, students to grade); every student of ``mine``
    is created in the gradebook first. SystemExit if the chapter is not released."""
    from nbgrader.api import MissingEntry
    outcomes: dict[str, Outcome] = {}
    todo = []
    with open_gradebook(run.course_dir, url=run.db_url) as gb:
        try:
            gb.find_assignment(run.chapter)
        except MissingEntry:
            raise SystemExit(f"{run.chapter} is not released in this course's gradebook: "
                             f"run `ae-course release {run.chapter}` first") from None
        for student, notebooks in mine.items():
            outcome = _not_to_grade(gb, run, student, notebooks, force)
            if outcome is None:
                todo.append(student)
            else:
                outcomes[student] = outcome
    return outcomes, todo


def _not_to_grade(gb, run: _Run, student: str, notebooks: list[Path], force: bool) -> Outcome | None:
    """The outcome of a submission that is not to be graded (a bad id, no notebook, graded
    before, a file that is no notebook: scored 0), or None to grade it."""
    if _BAD_ID.search(student):
        return Outcome(student, "failed", message="student id has a space, comma, "
                       "slash or glob character: rename the folder")
    _ensure_student(gb, student)
    if not notebooks:
        return Outcome(student, "failed", message=f"no .ipynb in submitted/{student}/{run.chapter}")
    if not force and _graded(gb, run.course_dir, run.chapter, student, notebooks):
        return Outcome(student, "skipped", *_score(gb, run.chapter, student),
                       message=_manual_note(gb, run.chapter, student))
    problems = [p for p in map(notebook_problem, notebooks) if p]
    if problems:
        _record_zero(gb, run.course_dir, run.chapter, student)
        return Outcome(student, "failed", *_score(gb, run.chapter, student),
                       message="; ".join(problems) + " — scored 0, fix the file and re-run")
    return None


def _grade(run: _Run, todo: list[str], workers: int | None, n_mine: int) -> dict[str, str]:
    """Grade ``todo`` in ``workers`` shares, then alone each student whose worker stopped
    without saying why; return student → error nbgrader logged (or why grading stopped)."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    if todo:
        run.say(f"grading {len(todo)} submission(s) of {run.chapter} with {workers} worker(s); "
                f"{n_mine - len(todo)} skipped or not gradable; logs in {run.log_dir}")
    shares = [todo[i::workers] for i in range(workers) if todo[i::workers]]
    errors: dict[str, str] = {}
    retry: list[str] = []
    for share, log, finished in run.round(shares, "worker"):
        for student in share:
            err = _error_from_log(log, student, run.chapter)
            if err:
                errors[student] = err
            else:
                retry.append(student)
    if retry:   # a worker died, ran out of time or gave up: grade its unfinished students one by one
        errors.update(_grade_alone(run, retry))
    return errors


def _grade_alone(run: _Run, retry: list[str]) -> dict[str, str]:
    """Grade each student of ``retry`` not graded yet in a worker of its own; student → error
    ("" when its worker finished without one)."""
    with open_gradebook(run.course_dir, url=run.db_url) as gb:
        retry = [s for s in retry if not _graded(gb, run.course_dir, run.chapter, s, run.subs[s])]
    if not retry:
        return {}
    run.say(f"re-grading alone, after their worker stopped: {', '.join(retry)}")
    errors = {}
    for share, log, finished in run.round([[s] for s in retry], "alone-"):
        student = share[0]
        errors[student] = _error_from_log(log, student, run.chapter) or (
            "" if finished else f"grading stopped after {run.student_timeout:g} s (whole-submission limit) "
                                "or its worker died (memory?)")
    return errors


def _results(run: _Run, todo: list[str], errors: dict[str, str], limit: int | None) -> dict[str, Outcome]:
    """The outcome of each student of ``todo``, from the gradebook: graded (with notes on
    stopped cells, a dead kernel, points left to grade by hand) or failed (with its error)."""
    outcomes = {}
    with open_gradebook(run.course_dir, url=run.db_url) as gb:
        for student in todo:
            if _graded(gb, run.course_dir, run.chapter, student, run.subs[student]):
                outcomes[student] = Outcome(student, "graded", *_score(gb, run.chapter, student),
                                            message=_join(_notes(run.course_dir, run.chapter, student, limit),
                                                          _manual_note(gb, run.chapter, student)))
            else:
                outcomes[student] = Outcome(student, "failed", message=(errors.get(student) or
                                            "not graded (see the worker log)") + f" [log: {run.log_dir}]")
    return outcomes
