"""Time ``ae-course autograde`` on a simulated class of chapter 01: serial against parallel.

One course directory is set up (``ae-course init`` + ``release``) and copied twice; the same
simulated class (``tests/class_simulation.py``: reference, partial through the mistake
fixtures, blank) is graded in one copy with 1 worker and in the other with ``--workers``
(default 2), one after the other. Printed:

- wall time and CPU time (this process's children) of each run, and the speed-up serial / parallel;
- the median time per submission-notebook in fast mode, from the serial run: the gaps between
  successive autograded notebooks of its single worker (the first, which also pays the start of
  nbgrader, is left out and reported as the start-up cost);
- the score table of the class, and the report figure, written to ``--figure``
  (default ``benchmarks/sample_report.png``).

    python benchmarks/bench_grading.py                 # 20 submissions, about 10 minutes on 2 cores
    python benchmarks/bench_grading.py --n 4 --figure /tmp/r.png    # a quick look
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from ae_helpers import instructor, parallel_grading, report  # noqa: E402
import class_simulation as sim  # noqa: E402

SLUG = "01_linear_ae_pca"


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def grade(course: Path, workers: int) -> tuple[float, float, list]:
    cpu0, t0 = children_cpu(), time.perf_counter()
    outcomes = parallel_grading.autograde(course, SLUG, workers=workers, say=lambda s: None)
    return time.perf_counter() - t0, children_cpu() - cpu0, outcomes


def per_notebook_seconds(course: Path) -> tuple[float, float, int]:
    """(median gap between successive autograded notebooks, first gap, count) of a 1-worker run."""
    done = sorted(p.stat().st_mtime for p in (course / "autograded").glob(f"*/{SLUG}/{SLUG}.ipynb"))
    gaps = [b - a for a, b in zip(done, done[1:])]
    return statistics.median(gaps), done[0], len(done)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20, help="submissions (default 20)")
    p.add_argument("--workers", type=int, default=2, help="workers of the parallel run (default 2)")
    p.add_argument("--figure", type=Path, default=ROOT / "benchmarks" / "sample_report.png")
    p.add_argument("--keep", type=Path, help="keep the course directories here")
    args = p.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-grading-"))
    template = base / "template"
    t0 = time.perf_counter()
    instructor.init(template, say=lambda s: None)
    instructor.release(template, [SLUG], say=lambda s: None)
    sim.RELEASE_ROOT["root"] = template
    klass = sim.simulated_class(SLUG, args.n)
    for student, nb in klass.items():
        sim.submit(template, SLUG, student, nb)
    print(f"course set up in {time.perf_counter() - t0:.0f} s: {args.n} submissions of {SLUG} "
          f"({os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f})")
    serial, parallel = base / "serial", base / "parallel"
    for d in (serial, parallel):
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(template, d)
    start = time.time()
    t_serial, cpu_serial, out_serial = grade(serial, 1)
    t_par, cpu_par, out_par = grade(parallel, args.workers)
    median, first_done, count = per_notebook_seconds(serial)
    failed = [o.student for o in out_serial + out_par if o.status != "graded"]
    print(f"\nserial   (1 worker):  {t_serial:6.1f} s wall, {cpu_serial:6.1f} s CPU")
    print(f"parallel ({args.workers} workers): {t_par:6.1f} s wall, {cpu_par:6.1f} s CPU")
    print(f"speed-up serial / parallel: {t_serial / t_par:.2f}×")
    print(f"median autograde time per submission-notebook (fast mode, serial run, {count - 1} gaps): "
          f"{median:.1f} s; nbgrader start-up + first notebook: {first_done - start:.1f} s")
    if failed:
        print(f"NOT graded: {failed}")
    same = {o.student: o.score for o in out_serial} == {o.student: o.score for o in out_par}
    print(f"serial and parallel scores identical: {same}")
    png, md = report.write_report(parallel, SLUG, base / "reports")
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, args.figure)
    print(f"\nreport figure: {args.figure}\n")
    print(md.read_text())
    print(f"course directories: {base}")


if __name__ == "__main__":
    main()
