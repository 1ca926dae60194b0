"""Run lectures top to bottom and print, per lecture, the time, the kernel's peak memory and
every claim with its number.

    python benchmarks/run_lectures.py --full                 # every lecture, full mode, real data
    python benchmarks/run_lectures.py --fast --variant stand-in 02 06

``--variant real`` (the default) runs on the real Fashion-MNIST of ``../shared/data/`` (or
``$AE_SHARED_DATA``) with Olivetti-shaped faces; ``stand-in`` on the embedded data sets.
Each lecture runs in a child process of its own; the peak memory is the largest resident
set of that lecture's kernel (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` in the child, read
after the kernel has exited), its CPU time (user + system) is printed beside the wall time
with the load average, so that a run on a busy machine still says what it cost.
Claims are not strict here: every claim is printed, held or not.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import lecture_runner as lr  # noqa: E402


def run_one(path: str, variant: str, fast: bool, out: str) -> None:
    """Child process: run one lecture and write its claims and error to ``out`` (JSON)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = lr.real_data_folder(Path(tmp) / "real") if variant == "real" else Path(tmp) / "empty"
        run = lr.run(Path(path), variant, folder, strict=False, fast=fast, timeout=3600)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    kernel_peak_gb = usage.ru_maxrss / 2**20                                               # KiB → GiB
    Path(out).write_text(json.dumps({"claims": run.claims, "error": run.error, "peak_gb": kernel_peak_gb,
                                     "cpu_s": usage.ru_utime + usage.ru_stime}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="full mode (the default)")
    mode.add_argument("--fast", action="store_true", help="fast mode")
    parser.add_argument("--variant", choices=["real", "stand-in"], default="real")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("lectures", nargs="*", help="lecture numbers (02 06 …); all by default")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args.child[0], args.variant, args.fast, args.child[1])
        return
    if args.variant == "real" and not lr.FASHION.exists():
        raise SystemExit(f"real Fashion-MNIST not found at {lr.FASHION}; set AE_SHARED_DATA")
    paths = [p for p in lr.lectures() if not args.lectures or p.stem[:2] in args.lectures]
    results = {}
    for path in paths:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            cmd = [sys.executable, __file__, "--variant", args.variant, *(["--fast"] if args.fast else []),
                   "--child", str(path), out.name]
            start = time.perf_counter()
            proc = subprocess.run(cmd)
            seconds = time.perf_counter() - start
            result = json.loads(Path(out.name).read_text() or "{}") if proc.returncode == 0 else {}
        result.update(seconds=seconds, returncode=proc.returncode)
        results[path.stem] = result
        claims = result.get("claims", [])
        held = sum(c["holds"] for c in claims)
        print(f"\n== {path.stem}: {seconds:.0f} s (kernel CPU time {result.get('cpu_s', float('nan')):.0f} s, "
              f"load {os.getloadavg()[0]:.1f}), kernel peak memory {result.get('peak_gb', float('nan')):.2f} GiB, "
              f"{held}/{len(claims)} claims hold" + ("" if result.get("error") is None else ", ERROR"))
        for c in claims:
            print(f"   {'ok ' if c['holds'] else 'NOT'}  {c['what']} = {c['value']:.4g} ({c['bound']})"
                  if not isinstance(c["value"], bool) else
                  f"   {'ok ' if c['holds'] else 'NOT'}  {c['what']}")
        if result.get("error"):
            print(result["error"][-2000:])
        sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
