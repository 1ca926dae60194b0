"""``ae-course``: the instructor's command line for this course, wrapping nbgrader.

    ae-course init DIR                      a course directory for a term
    ae-course release [CHAPTERS...]         student release (exercises/<chapter>/) + gradebook entry
    ae-course release --repo [CHAPTERS...]  maintainers: regenerate this repository's exercises/
    ae-course sync                          maintainers: notebooks' Colab links, install blocks, metadata
    ae-course autograde CHAPTER [--workers N] [--force] [--timeout S] [--shard K/N] [--db-url URL]
    ae-course feedback CHAPTER              feedback/<student>/<chapter>/*.html
    ae-course export [--out grades.csv]     one row per student × chapter × graded part
    ae-course report CHAPTER [--out DIR]    score distribution per graded part (PNG + markdown)
    ae-course doctor                        environment check; non-zero exit if something required is missing
    ae-course data fetch|where|pack|unpack  data cache (for an offline grading server too)

Every command but ``init``, ``release --repo``, ``sync``, ``doctor`` and ``data`` works in the course directory: ``--course DIR``,
else ``$AE_COURSE_DIR``, else the current folder. INSTRUCTORS.md describes a whole term.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from . import course as course_mod

if TYPE_CHECKING:                       # names for the hints only
    from nbgrader.apps.api import NbGraderAPI

    from .parallel import Outcome

#: How the commands report progress: ``print`` or a test's collector, called with one line.
Say = Callable[[str], object]

CONFIG_MARKER = "# ae-course course directory"
CONFIG_TEMPLATE = '''"""nbgrader configuration of a course directory written by `ae-course init`.

It runs the course's own configuration (hardened grading, fast mode, feedback without hidden
tests), then sets what belongs to this term. Edit below the marked line.
"""
{marker}
import os

_course_config = {repo_config!r}
exec(compile(open(_course_config).read(), _course_config, "exec"))

c = get_config()  # noqa: F821 (provided by nbgrader)
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
# ---- this term ----
c.CourseDirectory.course_id = {course_id!r}
{exchange}'''


def _course_dir(args: argparse.Namespace) -> Path:
    return Path(args.course or os.environ.get("AE_COURSE_DIR") or ".").resolve()


# ----------------------------------------------------------------------------- init / release

def init(target: Path, course_id: str = "autoencoders-latent-spaces", exchange: str | None = None,
         say: Say = print) -> Path:
    """Set up ``target`` as a course directory (idempotent: an existing one is completed, never
    overwritten). Copies ``solutions/`` (the nbgrader source) and ``exercises/`` of every chapter of
    the installed course, writes ``nbgrader_config.py`` and creates the gradebook."""
    target = Path(target).resolve()
    existing = _existing_course(target)
    chapters = course_mod.chapters_in(course_mod.ROOT)
    if not chapters:
        raise SystemExit(f"no solutions/ found beside the installed package ({course_mod.ROOT}): install the "
                         "course from its repository (pip install -e .)")
    target.mkdir(parents=True, exist_ok=True)
    if not existing:
        _write_config(target / "nbgrader_config.py", course_id, exchange)
        say(f"wrote {target / 'nbgrader_config.py'}")
    else:
        say(f"{target} is already a course directory: adding what is missing")
    _copy_missing_chapters(target, chapters, say)
    (target / "submitted").mkdir(exist_ok=True)
    from .report import open_gradebook
    with open_gradebook(target):
        pass
    say(f"course directory ready: {target}\nnext: cd {target} && ae-course release")
    return target


def _existing_course(target: Path) -> bool:
    """Whether ``target`` is a course directory already; SystemExit if it is a file or a folder
    with other things in it."""
    if target.exists() and not target.is_dir():
        raise SystemExit(f"{target} is a file, not a folder: choose a new folder for the course")
    config = target / "nbgrader_config.py"
    existing = config.exists() and CONFIG_MARKER in config.read_text()
    if target.exists() and any(target.iterdir()) and not existing:
        raise SystemExit(f"{target} is not empty and not an ae-course directory: choose a new or empty "
                         "folder (ae-course never mixes a course into other files)")
    return existing


def _write_config(config: Path, course_id: str, exchange: str | None) -> None:
    """The course directory's ``nbgrader_config.py`` (``CONFIG_TEMPLATE``)."""
    exch = f"c.Exchange.root = {exchange!r}\n" if exchange else "# c.Exchange.root = '/srv/nbgrader/exchange'\n"
    config.write_text(CONFIG_TEMPLATE.format(marker=CONFIG_MARKER, course_id=course_id, exchange=exch,
                                             repo_config=str(course_mod.ROOT / "nbgrader_config.py")))


def _copy_missing_chapters(target: Path, chapters: list[str], say: Say) -> None:
    """Copy ``solutions/<chapter>`` and ``exercises/<chapter>`` of the installed course that
    ``target`` does not have yet."""
    for sub in ("solutions", "exercises"):
        for chapter in chapters:
            src, dst = course_mod.ROOT / sub / chapter, target / sub / chapter
            if src.is_dir() and not dst.exists():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
                say(f"copied {sub}/{chapter}")


def _nbgrader_api(course_dir: Path, db_url: str | None = None) -> NbGraderAPI:
    """nbgrader's Python API on the course directory: in this process, so that releasing several
    chapters pays nbgrader's start-up (seconds of imports) once. ``db_url``: a gradebook other
    than the course's."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from .report import course_config
    from .course import scripts_first_on_os_path
    cfg = course_config(course_dir)
    if db_url:
        cfg.CourseDirectory.db_url = db_url
    with scripts_first_on_os_path():
        return NbGraderAPI(coursedir=CourseDirectory(config=cfg, root=str(course_dir)), config=cfg)


def release(course_dir: Path, chapters: list[str] | None = None, say: Say = print,
            db_url: str | None = None) -> list[Path]:
    """Generate ``exercises/<chapter>/`` from ``solutions/<chapter>/`` (default: every chapter there)
    and record it in the gradebook (the course's, or ``db_url``); return the released notebooks."""
    from .report import course_config
    from .course import scripts_first_on_os_path
    course_config(course_dir)
    present = course_mod.chapters_in(course_dir)
    chapters = chapters or present
    unknown = [c for c in chapters if c not in present]
    if unknown:
        raise SystemExit(f"no solutions/<chapter> in {course_dir} for {', '.join(unknown)}; "
                         f"chapters there: {', '.join(present)}")
    written = []
    api = _nbgrader_api(course_dir, db_url)
    for chapter in chapters:
        with scripts_first_on_os_path():
            result = api.generate_assignment(chapter, force=True)
        if not result["success"]:
            raise SystemExit(f"nbgrader generate_assignment {chapter} failed:\n{result.get('log', '')[-3000:]}"
                             f"\n{result.get('error', '')[-3000:]}")
        for nb in sorted((course_dir / "exercises" / chapter).glob("*.ipynb")):
            say(f"released {nb.relative_to(course_dir)}")
            written.append(nb)
    return written


def release_repository(chapters: list[str] | None = None, say: Say = print) -> list[Path]:
    """A maintainer's step: regenerate this repository's ``exercises/`` from ``solutions/``, with a
    throwaway gradebook, so that nothing is left behind in the repository."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        return release(course_mod.ROOT, chapters, say, db_url=f"sqlite:///{Path(tmp) / 'gradebook.db'}")


def feedback(course_dir: Path, chapter: str, force: bool = False, say: Say = print) -> list[Path]:
    """``nbgrader generate_feedback`` of ``chapter`` (``force``: again for every student); the
    feedback pages, ``feedback/<student>/<chapter>/*.html``. nbgrader's errors are said, not raised."""
    from .report import course_config
    course_config(course_dir)
    proc = course_mod.run_nbgrader(["generate_feedback", chapter] + (["--force"] if force else []),
                                   course_dir, check=False)
    pages = sorted((course_dir / "feedback").glob(f"*/{chapter}/*.html"))
    say(f"{len(pages)} feedback page(s) in {course_dir / 'feedback'}/<student>/{chapter}/")
    if proc.returncode:
        say(f"nbgrader generate_feedback reported errors:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return pages


# ----------------------------------------------------------------------------- command line

def _shard_arg(text: str) -> tuple[int, int]:
    from .parallel import parse_shard
    try:
        return parse_shard(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While grading, SIGTERM (a job scheduler, ``kill``) stops the run as Ctrl-C does: its
    nbgrader workers, in sessions of their own, are stopped too instead of grading on unseen."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ae-course", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Details: INSTRUCTORS.md in the course repository.")
    p.add_argument("--course", metavar="DIR", help="course directory (default: $AE_COURSE_DIR or .)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_term_commands(sub)
    _add_autograde(sub)
    _add_grade_commands(sub)
    _add_data(sub)
    return p


def _add_term_commands(sub: argparse._SubParsersAction) -> None:
    """init, release, sync."""
    s = sub.add_parser("init", help="set up a course directory for a term")
    s.add_argument("dir", type=Path)
    s.add_argument("--course-id", default="autoencoders-latent-spaces", help="nbgrader course_id (exchange)")
    s.add_argument("--exchange", metavar="DIR", help="nbgrader exchange directory (JupyterHub)")
    s = sub.add_parser("release", help="generate the student release of all or some chapters")
    s.add_argument("chapters", nargs="*")
    s.add_argument("--repo", action="store_true",
                   help="maintainers: regenerate this repository's exercises/ (no gradebook kept)")
    sub.add_parser("sync", help="maintainers: rewrite every notebook's Colab link, install block and metadata")


def _add_autograde(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("autograde", help="autograde submitted/<student>/CHAPTER in parallel")
    s.add_argument("chapter")
    s.add_argument("--workers", type=int, default=None, help="parallel nbgrader processes (default: CPU count)")
    s.add_argument("--force", action="store_true", help="re-grade submissions that are already graded")
    s.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: the course's 60)")
    s.add_argument("--student-timeout", type=float, default=1800.0,
                   help="wall-clock seconds per submission before its worker is stopped (default 1800)")
    s.add_argument("--shard", type=_shard_arg, default=None, metavar="K/N",
                   help="grade only shard K of N (a share fixed by each student id): one per machine")
    s.add_argument("--db-url", default=None, metavar="URL",
                   help="gradebook database, e.g. postgresql://user@host/db (default: $AE_GRADEBOOK_URL, "
                        "else c.CourseDirectory.db_url of nbgrader_config.py, else gradebook.db)")


def _add_grade_commands(sub: argparse._SubParsersAction) -> None:
    """feedback, export, report, doctor."""
    s = sub.add_parser("feedback", help="generate feedback pages for CHAPTER")
    s.add_argument("chapter")
    s.add_argument("--force", action="store_true")
    s = sub.add_parser("export", help="grades as CSV (student × chapter × graded part)")
    s.add_argument("--out", type=Path, default=Path("grades.csv"))
    s.add_argument("chapters", nargs="*")
    s = sub.add_parser("report", help="score distribution per graded part of CHAPTER (PNG + markdown)")
    s.add_argument("chapter")
    s.add_argument("--out", type=Path, default=None, help="folder (default: <course>/reports)")
    sub.add_parser("doctor", help="check the environment (exit 1 if something required is missing)")


def _add_data(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("data", help="data cache: fetch, where, pack for an offline machine, unpack there")
    data = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    d = data.add_parser("fetch", help="download data sets once into the cache (default: all), then list it")
    d.add_argument("names", nargs="*", metavar="NAME", help="data sets (default: all)")
    data.add_parser("where", help="the cache folder and its data set files")
    d = data.add_parser("pack", help="pack the cache into one archive for an offline machine")
    d.add_argument("archive", nargs="?", type=Path, help="output file (default ae_course_data.tar)")
    d = data.add_parser("unpack", help="unpack an archive made by `pack` into the cache")
    d.add_argument("archive", type=Path)


# ----------------------------------------------------------------------------- one function a command

def _init(args: argparse.Namespace) -> int:
    init(args.dir, args.course_id, args.exchange)
    return 0


def _release(args: argparse.Namespace) -> int:
    if args.repo:
        release_repository(args.chapters)
    else:
        release(_course_dir(args), args.chapters)
    return 0


def _sync(args: argparse.Namespace) -> int:
    for path in course_mod.sync_notebooks():
        print(f"updated {path.relative_to(course_mod.ROOT)}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor
    return doctor()


def _data(args: argparse.Namespace) -> int:
    from .doctor import data_command
    return data_command(args.action, getattr(args, "names", None), getattr(args, "archive", None))


def _autograde(args: argparse.Namespace) -> int:
    from .parallel import autograde
    course = _course_dir(args)
    if args.workers is not None and args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    with _sigterm_as_interrupt():
        outcomes = autograde(course, args.chapter, args.workers, args.force, args.timeout,
                             args.student_timeout, shard=args.shard, db_url=args.db_url)
    print(_autograde_summary(outcomes, args.shard))
    return 0


def _autograde_summary(outcomes: list[Outcome], shard: tuple[int, int] | None) -> str:
    """A line per student, then how many were graded and who needs attention."""
    width = max([12, *(len(o.student) for o in outcomes)])
    failed = [o.student for o in outcomes if o.status == "failed"]
    return ("\n".join(o.line(width) for o in outcomes) + "\n"
            + (f"shard {shard[0]}/{shard[1]}: " if shard else "")
            + f"{len(outcomes) - len(failed)} of {len(outcomes)} submissions graded"
            + (f"; needing attention: {', '.join(failed)}" if failed else ""))


def _feedback(args: argparse.Namespace) -> int:
    feedback(_course_dir(args), args.chapter, args.force)
    return 0


def _export(args: argparse.Namespace) -> int:
    from .report import all_grades, export_csv
    out = export_csv(all_grades(_course_dir(args), args.chapters or None), args.out)
    print(f"wrote {out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import write_report
    png, md = write_report(_course_dir(args), args.chapter, args.out)
    print(f"wrote {png}\nwrote {md}\n")
    print(md.read_text())
    return 0


#: ``ae-course COMMAND``: the function that runs it, given the parsed arguments; its exit code.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "init": _init, "release": _release, "sync": _sync, "autograde": _autograde, "feedback": _feedback,
    "export": _export, "report": _report, "doctor": _doctor, "data": _data}


def main(argv: list[str] | None = None) -> int:
    """``ae-course [--course DIR] COMMAND ...`` (``argv``: default ``sys.argv[1:]``); the exit code."""
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
