"""Time ``ae-course autograde`` on a simulated class: plain nbgrader against the course's grader.

One course directory is set up (``ae-course init`` + ``release``) and copied once per run; the
same simulated class (``tests/class_simulation.py``: reference, partial through the mistake
fixtures, blank) is graded, one run after the other, by

- ``plain nbgrader``: nbgrader's own ``Execute`` (a new kernel started from scratch per notebook,
  no guard, no sandbox), 1 worker;
- ``course, no fork server``: ``GuardedExecute`` with the OS sandbox, every kernel started from
  scratch (``fork_server = False``: the grader before the fork server), 1 worker;
- ``course``: the default: sandbox and fork server (``ae_helpers/instructor/zygote.py``), 1 worker;
- ``course, N workers``: the default with ``--workers`` processes.

Printed: per run, wall and CPU time and the median seconds per submission-notebook (the gaps
between successive autograded notebooks of a 1-worker run; the first notebook, which also pays
nbgrader's start-up, is left out), the speed-up over plain nbgrader, whether every run gave the
same scores; then where a notebook's time goes: starting a kernel (from scratch or forked) and
the imports a kernel pays at the first cells (``import torch``, torch's first optimiser step,
which imports ``torch._dynamo``, matplotlib and ``ae_helpers``), measured here in kernels of
each kind, the rest being nbgrader's own work and the notebook's cells. Last, the score table
and the report figure (``--figure``).

    python benchmarks/bench_grading.py                    # 12 submissions of chapter 01
    python benchmarks/bench_grading.py --n 4 --figure /tmp/r.png    # a quick look
"""
from __future__ import annotations

import argparse
import asyncio
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
from ae_helpers.instructor import cli, parallel, report, sandbox, zygote  # noqa: E402
import class_simulation as sim  # noqa: E402

SLUG = "01_linear_ae_pca"

#: Lines appended to each run's nbgrader_config.py.
PLAIN = ("from nbgrader.preprocessors import Execute\n"
         "c.Autograde.autograde_preprocessors = [Execute if p is GuardedExecute else p "
         "for p in c.Autograde.autograde_preprocessors]\n")
NO_FORK = "c.GuardedExecute.fork_server = False\n"

#: Code a notebook of this course runs first, timed inside the kernel (seconds per step).
IMPORT_STEPS = {
    "import torch": "import torch",
    "first optimiser step (imports torch._dynamo)":
        "p = torch.zeros(1, requires_grad=True); o = torch.optim.Adam([p]); p.sum().backward(); o.step()",
    "import matplotlib.pyplot, ae_helpers": "import matplotlib.pyplot, ae_helpers, ae_helpers.models",
}


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def per_notebook_seconds(course: Path) -> tuple[float, float]:
    """(median gap between successive autograded notebooks of a 1-worker run, first finish time)."""
    done = sorted(p.stat().st_mtime for p in (course / "autograded").glob(f"*/{SLUG}/{SLUG}.ipynb"))
    return statistics.median(b - a for a, b in zip(done, done[1:])), done[0]


def grade(course: Path, workers: int) -> dict:
    cpu0, t0, start = children_cpu(), time.perf_counter(), time.time()
    outcomes = parallel.autograde(course, SLUG, workers=workers, say=lambda s: None)
    out = {"wall": time.perf_counter() - t0, "cpu": children_cpu() - cpu0,
           "scores": {o.student: o.score for o in outcomes},
           "failed": [o.student for o in outcomes if o.status != "graded"]}
    if workers == 1:
        out["median"], first = per_notebook_seconds(course)
        out["first"] = first - start
    return out


async def kernel_timings(manager_class) -> tuple[float, dict[str, float]]:
    """Seconds from asking for a kernel to its first reply, and each import step's seconds."""
    km = manager_class()
    t0 = time.perf_counter()
    await km.start_kernel(cwd=tempfile.mkdtemp(prefix="bench-kernel-"))
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=120)
    start = time.perf_counter() - t0
    steps = {}
    for name, code in IMPORT_STEPS.items():
        reply = await kc.execute_interactive(
            f"import time as _t; _t0 = _t.perf_counter()\n{code}\n_took = _t.perf_counter() - _t0",
            timeout=120, user_expressions={"took": "_took"})
        steps[name] = float(reply["content"]["user_expressions"]["took"]["data"]["text/plain"])
    kc.stop_channels()
    await km.shutdown_kernel(now=True)
    return start, steps


def breakdown(repeats: int = 3) -> dict[str, tuple[float, dict[str, float]]]:
    """Median kernel start and import steps, for a kernel from scratch and a forked one."""
    from jupyter_client.manager import AsyncKernelManager
    kinds = {"from scratch": sandbox.SandboxedKernelManager if sandbox.available() is None
             else AsyncKernelManager,
             "forked": zygote.SandboxedForkedKernelManager if sandbox.available() is None
             else zygote.ForkedKernelManager}
    t0 = time.perf_counter()
    zygote.release(zygote.acquire(kinds["forked"].sandboxed))       # the fork server's own start
    zygote_start = time.perf_counter() - t0
    out = {}
    for kind, cls in kinds.items():
        runs = [asyncio.run(kernel_timings(cls)) for _ in range(repeats)]
        out[kind] = (statistics.median(r[0] for r in runs),
                     {step: statistics.median(r[1][step] for r in runs) for step in IMPORT_STEPS})
    zygote.close_all()
    out["zygote_start"] = (zygote_start, {})
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=12, help="submissions (default 12)")
    p.add_argument("--workers", type=int, default=2, help="workers of the parallel run (default 2)")
    p.add_argument("--figure", type=Path, default=ROOT / "benchmarks" / "sample_report.png")
    p.add_argument("--keep", type=Path, help="keep the course directories here")
    args = p.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-grading-"))
    template = base / "template"
    t0 = time.perf_counter()
    cli.init(template, say=lambda s: None)
    cli.release(template, [SLUG], say=lambda s: None)
    sim.RELEASE_ROOT["root"] = template
    for student, nb in sim.simulated_class(SLUG, args.n).items():
        sim.submit(template, SLUG, student, nb)
    print(f"course set up in {time.perf_counter() - t0:.0f} s: {args.n} submissions of {SLUG} "
          f"({os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}; "
          f"sandbox: {sandbox.available() or 'bubblewrap'})")
    runs = {"plain nbgrader": (PLAIN, 1), "course, no fork server": (NO_FORK, 1), "course": ("", 1),
            f"course, {args.workers} workers": ("", args.workers)}
    results = {}
    for name, (config, workers) in runs.items():
        course = base / name.replace(" ", "_").replace(",", "")
        shutil.rmtree(course, ignore_errors=True)
        shutil.copytree(template, course)
        with open(course / "nbgrader_config.py", "a") as f:
            f.write(config)
        results[name] = grade(course, workers)
    plain = results["plain nbgrader"]
    print(f"\n{'run':<26} {'wall s':>7} {'CPU s':>7} {'s/notebook':>11} {'vs plain':>9}")
    for name, r in results.items():
        per = f"{r['median']:.2f}" if "median" in r else "—"
        speed = f"{plain['median'] / r['median']:.2f}×" if "median" in r else f"{plain['wall'] / r['wall']:.2f}× wall"
        print(f"{name:<26} {r['wall']:7.1f} {r['cpu']:7.1f} {per:>11} {speed:>9}"
              + (f"   NOT graded: {r['failed']}" if r["failed"] else ""))
    print(f"(1-worker runs: the first notebook, with nbgrader's start-up, took "
          + ", ".join(f"{r['first']:.1f} s" for r in results.values() if "first" in r) + ")")
    same = all(r["scores"] == plain["scores"] for r in results.values())
    print(f"same scores in every run: {same}")
    parts = breakdown()
    print(f"\nwhere a notebook's time goes (medians of 3 kernels; load {os.getloadavg()[0]:.1f}):")
    print(f"{'':<46} {'from scratch':>13} {'forked':>8}")
    print(f"{'kernel start, to its first reply':<46} {parts['from scratch'][0]:13.2f} {parts['forked'][0]:8.2f}")
    for step in IMPORT_STEPS:
        print(f"{step:<46} {parts['from scratch'][1][step]:13.2f} {parts['forked'][1][step]:8.2f}")
    for kind, run in (("from scratch", "course, no fork server"), ("forked", "course")):
        paid = parts[kind][0] + sum(parts[kind][1].values())
        print(f"{kind}: the rest of {results[run]['median']:.2f} s per notebook (nbgrader, the cells): "
              f"{results[run]['median'] - paid:.2f} s")
    print(f"the fork server's own start, once per grading process: {parts['zygote_start'][0]:.1f} s")
    png, md = report.write_report(base / f"course_{args.workers}_workers", SLUG, base / "reports")
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, args.figure)
    print(f"\nreport figure: {args.figure}\n")
    print(md.read_text())
    print(f"course directories: {base}")


if __name__ == "__main__":
    main()
