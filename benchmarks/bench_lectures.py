"""Full-mode wall time of lectures, an old commit against this checkout, each lecture run
against its own ``ae_helpers``.

    python benchmarks/bench_lectures.py 01 08                 # old = b5b58bd (before issue 17's fit)
    python benchmarks/bench_lectures.py 01 08 --old REV --rounds 2 --json out.json
    python benchmarks/bench_lectures.py 01 --dry-run           # prepare everything, run nothing

The old side is a git worktree of ``REV`` (``/tmp/bench_lectures/<rev>``, added if missing);
its lecture is executed with ``PYTHONPATH`` at that worktree, the new side with this checkout's.
A first cell inserted into each notebook prints ``ae_helpers.__file__``, and the run is refused
if the kernel imported another package than its side's. Both sides run in full mode
(``AE_FAST=0``) on the same real-data folder (``AE_DATA_DIR``: Fashion-MNIST of
``../shared/data/`` linked, Olivetti-shaped faces, as ``tests/lecture_runner.py`` makes it),
with the lecture's ``DATASET`` line set to ``"fashion_mnist"`` in both, plots with Agg.
Runs alternate old, new, old, new … per lecture so that load drift hits both; each run's
wall seconds (kernel start to last cell) and the load average are printed, then one table:
median old, median new, old / new.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import lecture_runner as lr  # noqa: E402

PRINT_PACKAGE = "import ae_helpers\nprint('AE_HELPERS_FILE=' + ae_helpers.__file__)"


def worktree(rev: str, base: Path) -> Path:
    """A detached git worktree of ``rev`` under ``base`` (added once, reused after)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", rev], check=True, capture_output=True,
                         text=True).stdout.strip()
    path = base / sha[:10]
    if not (path / "ae_helpers").is_dir():
        base.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), sha], check=True,
                       capture_output=True)
    return path


def lecture_in(root: Path, number: str) -> Path:
    """The lecture notebook ``lectures/<number>_*.ipynb`` of the checkout at ``root``."""
    found = sorted((root / "lectures").glob(f"{number}_*.ipynb"))
    if len(found) != 1:
        raise SystemExit(f"lecture {number}: {len(found)} notebooks in {root / 'lectures'}")
    return found[0]


def prepared(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` on real data (``DATASET = "fashion_mnist"``, as the test runner
    sets it), with a first cell that prints which ``ae_helpers`` the kernel imported."""
    nb = lr.prepare(path, "real")
    nb.cells.insert(0, nbformat.v4.new_code_cell(PRINT_PACKAGE))
    return nb


def package_printed(nb: nbformat.NotebookNode) -> str:
    """The ``ae_helpers.__file__`` the inserted first cell printed ('' if none)."""
    for out in nb.cells[0].get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith("AE_HELPERS_FILE="):
                return line.split("=", 1)[1]
    return ""


def run_once(root: Path, number: str, data: Path, timeout: int) -> dict:
    """Execute lecture ``number`` of checkout ``root`` in full mode with ``PYTHONPATH=root``;
    returns wall seconds, load average after, the package the kernel used and any error."""
    path = lecture_in(root, number)
    nb = prepared(path)
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        error = lr.execute(nb, path.parent, data, Path(scratch) / "claims.jsonl", strict=False, fast=False,
                           timeout=timeout, env={"PYTHONPATH": str(root)})
        seconds = time.perf_counter() - start
    used = package_printed(nb)
    if not used.startswith(str(root / "ae_helpers")):
        error = error or f"kernel imported {used or 'nothing'}, not {root / 'ae_helpers'}"
    return {"seconds": seconds, "load": os.getloadavg()[0], "package": used, "error": error}


def table(results: dict) -> str:
    """Markdown table: per lecture the runs of each side, medians and old / new."""
    rows = ["| lecture | old runs (s) | new runs (s) | old median | new median | old / new |",
            "|---|---|---|---|---|---|"]
    for number, sides in results.items():
        old = [r["seconds"] for r in sides["old"] if not r["error"]]
        new = [r["seconds"] for r in sides["new"] if not r["error"]]
        if not old or not new:
            rows.append(f"| {number} | failed | failed | | | |")
            continue
        mo, mn = statistics.median(old), statistics.median(new)
        rows.append(f"| {number} | {', '.join(f'{s:.1f}' for s in old)} | {', '.join(f'{s:.1f}' for s in new)} "
                    f"| {mo:.1f} | {mn:.1f} | {mo / mn:.2f}× |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lectures", nargs="+", help="lecture numbers, e.g. 01 08")
    parser.add_argument("--old", default="b5b58bd", help="the old commit (default b5b58bd)")
    parser.add_argument("--rounds", type=int, default=2, help="old/new pairs per lecture (default 2)")
    parser.add_argument("--worktrees", default="/tmp/bench_lectures", help="where the old worktree goes")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--json", help="also write every run to this file")
    parser.add_argument("--dry-run", action="store_true", help="prepare worktree, data and notebooks only")
    args = parser.parse_args(argv)
    if not lr.FASHION.exists():
        raise SystemExit(f"real Fashion-MNIST not found at {lr.FASHION}; set AE_SHARED_DATA")
    sides = {"old": worktree(args.old, Path(args.worktrees)), "new": ROOT}
    data = lr.real_data_folder(Path(args.worktrees) / "data")
    for side, root in sides.items():
        for number in args.lectures:
            print(f"{side}: {lecture_in(root, number).relative_to(root)} of {root}", flush=True)
            prepared(lecture_in(root, number))
    if args.dry_run:
        print(f"dry run: data folder {data}; nothing executed")
        return 0
    print(f"load average at start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs", flush=True)
    results = {n: {"old": [], "new": []} for n in args.lectures}
    for number in args.lectures:
        for _ in range(args.rounds):
            for side, root in sides.items():
                run = run_once(root, number, data, args.timeout)
                results[number][side].append(run)
                print(f"  {number} {side}: {run['seconds']:.1f} s, load {run['load']:.2f}, {run['package']}"
                      + (f", ERROR {run['error']}" if run["error"] else ""), flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}\n")
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
