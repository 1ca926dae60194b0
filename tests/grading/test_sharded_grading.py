"""Several grading machines (issue 14, part 3): ``ae-course autograde CHAPTER --shard K/N`` writing
to one PostgreSQL gradebook.

Unit tests pin the share function (sha256 of the student id mod N: deterministic, disjoint,
covering, roughly even), the ``--shard`` errors, where the gradebook URL comes from
(``--db-url``, ``$AE_GRADEBOOK_URL``, ``c.CourseDirectory.db_url``, the sqlite file) and what the
nbgrader workers are given.

The PostgreSQL tests run a real server: the session fixture ``postgres`` finds ``initdb`` and
``pg_ctl`` (on PATH or in Debian's /usr/lib/postgresql/*/bin), creates a throwaway cluster in a
temporary folder that listens only on a Unix socket there (as the user ``postgres`` or
``nobody`` when the tests run as root: initdb refuses root), and stops and removes it at the
end. Without PostgreSQL (or its Python driver) they are skipped with the reason; with
``AE_REQUIRE_POSTGRES=1`` (set by .ci/run) they fail instead.

The end-to-end tests (marked ``grading``) grade a simulated class of six (chapter 01, fast mode,
one worker per shard; ``tests/class_simulation.py``) once on one machine with the sqlite
gradebook, then with two ``ae-course autograde --shard K/2`` processes at the same time against
one PostgreSQL gradebook, and interrupt a shard and run it again.
"""
from __future__ import annotations

import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ae_helpers.instructor import cli, parallel, report
from ae_helpers.instructor.parallel import in_shard, parse_shard, shard_index

SLUG = "01_linear_ae_pca"
CLASS_SIZE = 6
REQUIRED = os.environ.get("AE_REQUIRE_POSTGRES") == "1"


# ----------------------------------------------------------------------------- the share

def test_shard_index_is_pinned_by_the_student_id():
    """sha256 of the id, not Python's salted hash(): the same shard on every machine and in every
    run (pinned, so that a change of the rule, which would move students between machines in the
    middle of a term, is seen)."""
    assert [shard_index(f"student{i:02d}", 2) for i in range(1, 7)] == [1, 1, 0, 1, 0, 1]
    assert shard_index("ann", 3) == shard_index("ann", 3) == 2


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 32])
def test_shards_are_disjoint_cover_the_class_and_are_roughly_even(n):
    ids = [f"s{i:04d}" for i in range(2000)] + ["ann", "bob", "Zoë", "x-1_2.y"]
    owners = {s: [k for k in range(1, n + 1) if in_shard(s, (k, n))] for s in ids}
    assert all(len(k) == 1 for k in owners.values())          # each student in exactly one shard
    sizes = [sum(k == [j] for k in owners.values()) for j in range(1, n + 1)]
    expected = len(ids) / n
    assert all(abs(size - expected) < 5 * expected ** 0.5 for size in sizes), sizes
    assert all(in_shard(s, None) for s in ids)


def test_the_share_does_not_depend_on_the_folder_listing(tmp_path):
    """Two machines whose submitted/ folders hold different (overlapping) students agree on the
    shard of every student both hold."""
    for machine, students in (("a", ["ann", "bob", "cat"]), ("b", ["cat", "bob", "dan", "eve"])):
        for s in students:
            (tmp_path / machine / "submitted" / s / SLUG).mkdir(parents=True)
    a, b = (parallel.submissions(tmp_path / m, SLUG) for m in "ab")
    for k in (1, 2, 3):
        mine_a = {s for s in a if in_shard(s, (k, 3))}
        mine_b = {s for s in b if in_shard(s, (k, 3))}
        assert mine_a & set(b) == mine_b & set(a)


@pytest.mark.parametrize("value, message", [
    ("0/2", "shard 0/2 does not exist: K counts from 1 to N"),
    ("3/2", "shard 3/2 does not exist"),
    ("1/0", "shard 1/0 does not exist"),
    ("2", "--shard takes K/N, e.g. 1/4"),
    ("a/b", "--shard takes K/N"),
    ("-1/2", "--shard takes K/N"),
    ("1/2/3", "--shard takes K/N"),
])
def test_a_bad_shard_value_gives_a_clear_error(value, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["autograde", SLUG, f"--shard={value}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "usage: ae-course" in err and "argument --shard" in err and message in err


def test_the_api_checks_the_shard_too(tmp_path):
    assert parse_shard(" 2 / 5 ") == (2, 5)
    with pytest.raises(SystemExit, match="shard 3/2 does not exist"):
        parallel.autograde(tmp_path, SLUG, shard=(3, 2))
    with pytest.raises(SystemExit, match="shard must be"):
        parallel.autograde(tmp_path, SLUG, shard="1/2")


# ----------------------------------------------------------------------------- the gradebook URL

def _course(tmp_path, extra: str = "") -> Path:
    course = tmp_path / "course"
    course.mkdir(exist_ok=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'x'\n" + extra)
    return course


def test_db_url_comes_from_the_argument_the_environment_the_config_or_the_sqlite_default(tmp_path, monkeypatch):
    monkeypatch.delenv(report.DB_URL_ENV, raising=False)
    course = _course(tmp_path)
    sqlite = f"sqlite:///{(course / 'gradebook.db').resolve()}"
    assert report.db_url(course) == sqlite                                  # nbgrader's default
    assert report.db_url(course, timeout=60) == sqlite + "?timeout=60"      # busy timeout for sqlite
    server = "postgresql://grader@db.example.org:5433/ae2026"
    course = _course(tmp_path, f"c.CourseDirectory.db_url = {server!r}\n")
    os.utime(course / "nbgrader_config.py", (1, 1))                         # a change the cache sees
    assert report.db_url(course, timeout=60) == server                      # no timeout for a server
    assert report.course_config(course).CourseDirectory.db_url == server
    env = "postgresql://other@db2/ae"
    monkeypatch.setenv(report.DB_URL_ENV, env)
    assert report.db_url(course, timeout=60) == env
    assert report.course_config(course).CourseDirectory.db_url == env     # nbgrader run from here sees it
    assert report.db_url(course, timeout=60, url="sqlite:////srv/g.db") == "sqlite:////srv/g.db?timeout=60"
    assert report.course_id(course) == "x"


def test_a_missing_database_driver_is_named(tmp_path, monkeypatch):
    import sqlalchemy.dialects.postgresql.psycopg as dialect
    course = _course(tmp_path)

    def no_driver(cls):
        raise ModuleNotFoundError("No module named 'psycopg'", name="psycopg")
    monkeypatch.setattr(dialect.PGDialect_psycopg, "import_dbapi", classmethod(no_driver))
    with pytest.raises(SystemExit, match=r"postgresql\+psycopg://grader:\*\*\*@db/ae needs the Python module "
                                         r"'psycopg': pip install 'psycopg\[binary\]' \(in the \[instructor\] extra\)"):
        report.open_gradebook(course, url="postgresql+psycopg://grader:secret@db/ae")


def test_workers_get_the_same_gradebook_and_no_password_on_their_command_line(tmp_path, monkeypatch):
    monkeypatch.delenv(report.DB_URL_ENV, raising=False)
    course = _course(tmp_path)
    launched = []
    monkeypatch.setattr(subprocess, "Popen", lambda cmd, **kw: launched.append((cmd, kw["env"])))
    log = tmp_path / "w.log"
    parallel._launch(course, SLUG, ["ann"], ["ann", "bob"], log, None, 1,
                             "postgresql://grader:s3cret@db.example.org/ae2026")
    parallel._launch(course, SLUG, ["ann"], ["ann", "bob"], log, None, 1)
    (pg_cmd, pg_env), (sq_cmd, sq_env) = launched
    assert "--CourseDirectory.db_url=postgresql://grader@db.example.org/ae2026" in pg_cmd
    assert "s3cret" not in " ".join(pg_cmd) and pg_env["PGPASSWORD"] == "s3cret"
    assert f"--CourseDirectory.db_url=sqlite:///{(course / 'gradebook.db').resolve()}?timeout=300" in sq_cmd
    assert "--CourseDirectory.student_id_exclude=bob" in pg_cmd


def _a_student_created_meanwhile_is_found(course: Path, url: str, monkeypatch):
    """The race of two shards creating one student: this shard looks, finds nothing, and its
    insert fails on the unique key because the other shard's insert came first."""
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(url, "x") as other, report.open_gradebook(course, url=url) as gb:
        real_find = gb.find_student
        looks = []

        def find_after_the_other_shard(student):
            looks.append(student)
            if len(looks) == 1:                 # we look: not there; the other shard adds it now
                other.add_student(student)
                raise MissingEntry(student)
            return real_find(student)
        monkeypatch.setattr(gb, "find_student", find_after_the_other_shard)
        parallel._ensure_student(gb, "ann")
        assert looks == ["ann", "ann"]
        assert [s.id for s in gb.students] == ["ann"]
        parallel._ensure_student(gb, "bob")      # the session works on after the rollback
        assert sorted(s.id for s in gb.students) == ["ann", "bob"]


def test_a_student_created_meanwhile_by_another_shard_is_found(tmp_path, monkeypatch):
    monkeypatch.delenv(report.DB_URL_ENV, raising=False)
    course = _course(tmp_path)
    _a_student_created_meanwhile_is_found(course, report.db_url(course), monkeypatch)


# ----------------------------------------------------------------------------- PostgreSQL

def _pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, else Debian's newest /usr/lib/postgresql/*/bin."""
    found = [Path(p).resolve().parent for p in [shutil.which("initdb")] if p]
    found += sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    return next((d for d in found if (d / "initdb").exists() and (d / "pg_ctl").exists()), None)


def _missing(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (AE_REQUIRE_POSTGRES=1: the PostgreSQL tests must run here)")
    pytest.skip(reason)


def test_without_postgresql_the_tests_skip_unless_ci_requires_them(monkeypatch):
    import _pytest.outcomes as outcomes
    monkeypatch.setattr(sys.modules[__name__], "REQUIRED", False)
    with pytest.raises(outcomes.Skipped, match="apt-get install postgresql"):
        _missing("PostgreSQL is not installed: apt-get install postgresql")
    monkeypatch.setattr(sys.modules[__name__], "REQUIRED", True)
    with pytest.raises(outcomes.Failed, match="AE_REQUIRE_POSTGRES=1: the PostgreSQL tests must run here"):
        _missing("PostgreSQL is not installed: apt-get install postgresql")


class Postgres:
    """A throwaway PostgreSQL cluster on a Unix socket in ``folder``; ``database()`` gives the
    URL of a fresh database."""

    PORT = 5432       # only the name of the socket file: the folder is private, no TCP port is opened

    def __init__(self, bin_dir: Path, folder: Path, user: str | None):
        self.bin, self.folder, self.user = bin_dir, folder, user
        self.count = 0

    def run(self, *args, **kw):
        who = {}
        if self.user:
            entry = pwd.getpwnam(self.user)
            who = dict(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        return subprocess.run([str(self.bin / args[0]), *args[1:]], capture_output=True, text=True,
                              cwd=self.folder, timeout=120, **who, **kw)

    def start(self):
        data = self.folder / "data"
        for cmd in (["initdb", "-D", str(data), "-U", "ae", "--auth=trust", "-E", "UTF8", "--no-locale",
                     "--no-sync"],
                    ["pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-w", "-t", "60", "-o",
                     f"-k {self.folder} -p {self.PORT} -c listen_addresses='' -c fsync=off "
                     "-c max_connections=200", "start"]):
            proc = self.run(*cmd)
            if proc.returncode:
                log = self.folder / "server.log"
                raise RuntimeError(f"{' '.join(cmd[:1])} failed: {proc.stdout}{proc.stderr}"
                                   + (log.read_text() if log.exists() else ""))

    def stop(self):
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")

    def database(self) -> str:
        self.count += 1
        name = f"gradebook{self.count}"
        proc = subprocess.run([str(self.bin / "createdb"), "-h", str(self.folder), "-p", str(self.PORT),
                               "-U", "ae", name], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return f"postgresql+psycopg://ae@/{name}?host={self.folder}&port={self.PORT}"


@pytest.fixture(scope="session")
def postgres():
    bin_dir = _pg_bin()
    if bin_dir is None:
        _missing("PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin): "
                 "apt-get install postgresql")
    try:      # the driver of the URLs below (and of a bare postgresql:// with SQLAlchemy ≥ 2.1)
        make_url("postgresql+psycopg://").get_dialect().import_dbapi()
    except ImportError as err:
        _missing(f"the PostgreSQL driver {err.name} is not installed: pip install -e '.[dev]'")
    user = None
    if os.geteuid() == 0:                       # initdb refuses root
        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if user is None:
            _missing("running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL as")
    folder = Path(tempfile.mkdtemp(prefix="ae_pg_"))
    if user:
        os.chown(folder, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    server = Postgres(bin_dir, folder, user)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_shards_creating_the_same_students_at_once_on_postgresql(postgres, tmp_path, monkeypatch):
    """On the server: the unique-key error of a student created meanwhile is survived (the
    session rolled back and usable), and two connections that create the same 40 students at
    the same moment leave each student once."""
    from nbgrader.api import InvalidEntry
    monkeypatch.delenv(report.DB_URL_ENV, raising=False)
    url = postgres.database()
    course = _course(tmp_path)
    _a_student_created_meanwhile_is_found(course, url, monkeypatch)
    ids = [f"s{i:02d}" for i in range(40)]
    start, errors, collisions = threading.Barrier(2), [], []

    def shard():
        try:
            with report.open_gradebook(course, url=url) as gb:
                add = gb.add_student

                def counted(student):
                    try:
                        return add(student)
                    except InvalidEntry:
                        collisions.append(student)
                        raise
                gb.add_student = counted
                start.wait()
                for s in ids:
                    parallel._ensure_student(gb, s)
        except Exception as err:                # noqa: BLE001 (reported below)
            errors.append(err)
    threads = [threading.Thread(target=shard) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with report.open_gradebook(course, url=url) as gb:
        assert sorted(s.id for s in gb.students) == ["ann", "bob"] + ids
    print(f"\n{len(collisions)} concurrent creations of one student survived")


# ----------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The simulated class (student id → notebook) and the sqlite course directory it was built
    from, released, each student submitted."""
    import class_simulation as sim
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(report.DB_URL_ENV, raising=False)
        course = cli.init(tmp_path_factory.mktemp("single") / "term", say=lambda s: None)
        cli.release(course, [SLUG], say=lambda s: None)
        mp.setitem(sim.RELEASE_ROOT, "root", course)
        notebooks = sim.simulated_class(SLUG, CLASS_SIZE)
    for student, nb in notebooks.items():
        sim.submit(course, SLUG, student, nb)
    return notebooks, course


@pytest.fixture(scope="module")
def single_machine(klass):
    """The class graded on one machine, one worker, sqlite gradebook: (seconds, grades)."""
    _, course = klass
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(report.DB_URL_ENV, raising=False)
        t0 = time.perf_counter()
        outcomes = parallel.autograde(course, SLUG, workers=1, say=lambda s: None)
        seconds = time.perf_counter() - t0
        assert [o.status for o in outcomes] == ["graded"] * CLASS_SIZE, [o.line() for o in outcomes]
        return seconds, _scores(course)


def _scores(course: Path, url: str | None = None) -> dict[str, dict[str, float | None]]:
    """student → part → score (and 'TOTAL'), read from the course's gradebook."""
    with report.open_gradebook(course, url=url) as gb:
        grades = report.chapter_grades(gb, SLUG)
    return {g.student: {**{p: v.score for p, v in g.parts.items()}, "TOTAL": g.total}
            for g in grades if g.submitted}


def _pg_course(tmp_path: Path, notebooks: dict, config_url: str | None = None) -> Path:
    """A course directory for the class whose gradebook is on the server (released there)."""
    import class_simulation as sim
    course = cli.init(tmp_path / "term", say=lambda s: None)
    if config_url:                              # as an instructor would: in the course's config
        with (course / "nbgrader_config.py").open("a") as f:
            f.write(f"c.CourseDirectory.db_url = {config_url!r}\n")
    cli.release(course, [SLUG], say=lambda s: None)
    for student, nb in notebooks.items():
        sim.submit(course, SLUG, student, nb)
    return course


def _cli(course: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != report.DB_URL_ENV}
    return subprocess.Popen([sys.executable, "-m", "ae_helpers.instructor.cli", "--course", str(course),
                             "autograde", SLUG, "--workers", "1", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _lines(out: str) -> dict[str, str]:
    """student → its outcome line, from ae-course autograde's output."""
    return {line.split()[0]: line for line in out.splitlines() if line.startswith("student")}


def _graded_now(course: Path, url: str) -> list[str]:
    """The students whose submission counts as graded (autograded notebook and every score)."""
    subs = parallel.submissions(course, SLUG)
    with report.open_gradebook(course, url=url) as gb:
        return [s for s, nbs in subs.items() if parallel._graded(gb, course, SLUG, s, nbs)]


@pytest.mark.grading
def test_two_shards_at_once_grade_each_student_once_as_one_machine_does(postgres, klass, single_machine,
                                                                        tmp_path, monkeypatch):
    monkeypatch.delenv(report.DB_URL_ENV, raising=False)
    notebooks, _ = klass
    single_seconds, single_scores = single_machine
    url = postgres.database()
    course = _pg_course(tmp_path, notebooks, config_url=url)
    assert report.db_url(course) == url

    t0 = time.perf_counter()
    procs = [_cli(course, "--shard", f"{k}/2") for k in (1, 2)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    seconds = time.perf_counter() - t0
    assert [p.returncode for p in procs] == [0, 0], outs

    shards = [_lines(out) for out in outs]
    expected = [{s for s in notebooks if in_shard(s, (k, 2))} for k in (1, 2)]
    assert [set(lines) for lines in shards] == expected and all(expected)
    assert not set(shards[0]) & set(shards[1]) and set(shards[0]) | set(shards[1]) == set(notebooks)
    for k, (lines, out) in enumerate(zip(shards, outs), 1):
        assert all(line.rstrip().endswith(" ok") or " ok: " in line for line in lines.values()), out
        assert f"shard {k}/2: {len(lines)} of the {CLASS_SIZE} submissions of {SLUG}" in out
        assert f"shard {k}/2: {len(lines)} of {len(lines)} submissions graded" in out
    # every student was autograded by exactly one nbgrader process: the two shards' worker logs
    logs = {k: (course / "logs" / "autograde" / SLUG / f"shard{k}of2-worker0.log").read_text() for k in (1, 2)}
    for student in notebooks:
        graded_in = [k for k, log in logs.items() for line in log.splitlines()
                     if "Sanitizing" in line and f"/submitted/{student}/{SLUG}/" in line]
        assert len(graded_in) == 1, (student, graded_in)

    scores = _scores(course)
    assert scores == single_scores                      # nothing lost, the same scores
    assert sum(v["TOTAL"] for v in scores.values()) > 0
    print(f"\n{CLASS_SIZE} students: one machine (sqlite, 1 worker) {single_seconds:.1f} s; "
          f"two shards at once (PostgreSQL, 1 worker each) {seconds:.1f} s "
          f"({len(shards[0])} + {len(shards[1])} students); scores equal: {scores == single_scores}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; largest process "
          f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB")


@pytest.mark.grading
def test_an_interrupted_shard_grades_only_the_rest_when_run_again(postgres, klass, single_machine,
                                                                  tmp_path, monkeypatch):
    """Shard 2/2 (four of the six) is stopped with SIGTERM after its first student is graded:
    its nbgrader worker stops too, and the same command run again grades only the others."""
    notebooks, _ = klass
    _, single_scores = single_machine
    url = postgres.database()
    monkeypatch.setenv(report.DB_URL_ENV, url)           # release writes to the server through it
    course = _pg_course(tmp_path, notebooks)
    monkeypatch.delenv(report.DB_URL_ENV)
    mine = sorted(s for s in notebooks if in_shard(s, (2, 2)))
    assert len(mine) >= 3

    proc = _cli(course, "--shard", "2/2", "--db-url", url)
    deadline = time.monotonic() + 600
    while not _graded_now(course, url) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0, out                     # stopped, not finished
    assert "KeyboardInterrupt" in out
    time.sleep(1)
    assert not [p for p in Path("/proc").glob("[0-9]*") if _runs_in(p, course)], "a worker outlived its run"
    first = _graded_now(course, url)
    assert 1 <= len(first) < len(mine), first
    stamps = {s: (course / "autograded" / s / SLUG / f"{SLUG}.ipynb").stat().st_mtime for s in first}

    proc = _cli(course, "--shard", "2/2", "--db-url", url)
    out = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, out
    lines = _lines(out)
    assert sorted(lines) == mine
    assert {s for s, line in lines.items() if "ok (graded before)" in line} == set(first), out
    assert f"grading {len(mine) - len(first)} submission(s)" in out
    assert {s: (course / "autograded" / s / SLUG / f"{SLUG}.ipynb").stat().st_mtime for s in first} == stamps
    assert _scores(course, url) == {s: single_scores[s] for s in mine}
    print(f"\ninterrupted shard 2/2 after {len(first)} of {len(mine)} students; the re-run graded "
          f"{len(mine) - len(first)}, skipped {len(first)}")


def _runs_in(proc_dir: Path, course: Path) -> bool:
    """Whether process ``proc_dir`` (a /proc entry) is an nbgrader worker of ``course``."""
    try:
        cmd = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        cwd = os.readlink(proc_dir / "cwd")
    except OSError:
        return False
    return "nbgrader" in cmd and cwd == str(course)
