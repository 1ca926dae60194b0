"""Smoke test of benchmarks/bench_fit.py: it runs (tiny sizes) and reports all it promises.

Speed ratios are machine-dependent and are not asserted here; the benchmark itself prints them.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_fit.py"
GPU_SCRIPT = SCRIPT.with_name("bench_gpu.py")
SECTIONS = ("0. Where a step's time goes", "1. Seconds per epoch at batch 128", "2. Time to reach the canonical",
            "3. Epoch time against the matmul floor", "4. Time to the canonical 2-epoch test loss with the opt-in",
            "5. Other models the chapters train")


def test_bench_fit_quick_prints_every_section_and_valid_json(tmp_path):
    out_json = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--json", str(out_json),
                           "--breakdown", "--schedule", "--other-models", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for title in SECTIONS:
        assert title in proc.stdout, f"section {title!r} missing from:\n{proc.stdout}"
    assert "data: stand-in" in proc.stdout or "data: MNIST" in proc.stdout

    results = json.loads(out_json.read_text())
    assert len(results["same_batch"]) == len(results["to_target"]) == 2
    for r in results["same_batch"]:
        assert r["canonical_s_per_epoch"] > 0 and r["fit_s_per_epoch"] > 0
        assert r["ratio_canonical_over_fit"] > 0
    for r in results["to_target"]:
        assert r["canonical_s"] > 0 and r["fit_s_per_epoch"] > 0
        assert r["target_test_loss"] > 0
        assert r["fit_s"] is None or r["fit_s"] > 0
        assert len(r["log"]["canonical"]["test_loss"]) == r["canonical_epochs"]
    for f in results["floor"]:
        assert f["mm_gflops"] > 0 and f["floor_s_per_epoch"] > 0
    assert results["fit_defaults"]["batch_size"] > 0 and results["fit_defaults"]["lr"] > 0

    phases = ("batching", "step fn", "backward", "optimiser", "bookkeeping", "evaluation")
    for r in results["breakdown"]:
        assert all(r[when][p] > 0 for when in ("before", "after") for p in phases), r
    for r in results["schedule"]:
        assert r["setting"]["schedule"] == "warmup-cosine" and r["tries"]
        assert r["target_test_loss"] > 0 and r["canonical_s"] > 0
        assert (r["fit_epochs"] is None) == (r["ratio_canonical_over_fit"] is None)
    assert [r["model"] for r in results["other_models"]] == ["conv ae 1-16-32", "jepa-like (EMA target)"]
    for r in results["other_models"]:
        assert r["default_test_loss"] > 0 and r["setting_test_loss"] > 0


def test_bench_gpu_says_why_it_is_skipped_without_cuda(capsys, monkeypatch):
    """Runs the script as ``python benchmarks/bench_gpu.py`` would, in this process (torch is
    imported already: a fraction of a second instead of a fresh interpreter's seconds)."""
    import runpy

    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: run benchmarks/bench_gpu.py itself")
    monkeypatch.setattr(sys, "argv", [str(GPU_SCRIPT)])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(GPU_SCRIPT), run_name="__main__")
    assert exit_.value.code == 0
    assert "bench_gpu: skipped: CUDA is not available" in capsys.readouterr().out


def test_house_stats_splits_runtime_from_tooling(tmp_path, capsys):
    """benchmarks/house_stats.py counts the runtime and the tooling apart, on this checkout and on
    a flat layout of old (modules named as before the split count as tooling)."""
    import runpy
    stats_mod = runpy.run_path(str(SCRIPT.with_name("house_stats.py")))
    repo = SCRIPT.parents[1]
    stats = stats_mod["house_stats"](repo)
    runtime, tooling = stats["groups"]["runtime"], stats["groups"]["tooling"]
    assert runtime["modules"] >= 8 and tooling["modules"] >= 10
    assert runtime["no_docstring"] == [] and runtime["no_hints"] == []
    old = tmp_path / "ae_helpers"
    old.mkdir()
    (old / "train.py").write_text("def fit(x: int) -> int:\n    '''doc'''\n    return x\n")
    (old / "grading.py").write_text("def grade(x):\n    return x\n")
    flat = stats_mod["house_stats"](tmp_path)["groups"]
    assert (flat["runtime"]["modules"], flat["tooling"]["modules"]) == (1, 1)
    assert flat["tooling"]["no_docstring"] == ["grading.py:grade"] and flat["runtime"]["no_hints"] == []
    stats_mod["main"]([str(repo), "--json", str(tmp_path / "s.json")])
    assert "runtime" in capsys.readouterr().out and json.loads((tmp_path / "s.json").read_text())["functions"]["max"] > 0


def test_bench_fit_setting_flags_reach_fit_and_adam():
    """--schedule-batch/--schedule-lr/--warmup/--betas change sections 4-5's setting, which passes
    to fit unchanged; only the benchmark's fused_adam key becomes an optimizer (with the betas)."""
    import runpy

    import torch
    bench = runpy.run_path(str(SCRIPT))
    args = bench["parse_args"](["--schedule-batch", "256", "--schedule-lr", "0.03", "--warmup", "0.1",
                                "--betas", "0.8,0.99"])
    setting = bench["schedule_setting"](args)
    assert setting == {**bench["SCHEDULE"], "batch_size": 256, "lr": 0.03, "warmup": 0.1, "betas": (0.8, 0.99)}
    assert bench["schedule_setting"](bench["parse_args"]([])) == bench["SCHEDULE"]
    assert bench["with_optimizer"](torch.nn.Linear(3, 2), setting) == setting
    kwargs = bench["with_optimizer"](torch.nn.Linear(3, 2), {**setting, "fused_adam": True})
    group = kwargs.pop("optimizer").param_groups[0]
    assert (group["lr"], group["betas"]) == (0.03, (0.8, 0.99))
    assert kwargs == {"schedule": "warmup-cosine", "batch_size": 256, "lr": 0.03, "warmup": 0.1}
    assert bench["schedule_setting"](bench["parse_args"](["--betas", "0.9,0.999"]))["betas"] == (0.9, 0.999)


def test_bench_lectures_prepares_both_sides_the_same_way():
    """bench_lectures.py's notebook: real data and a first cell that prints the package used;
    the printed path is read back, and the table's ratio is old median / new median."""
    import runpy
    bench = runpy.run_path(str(SCRIPT.with_name("bench_lectures.py")))
    nb = bench["prepared"](bench["lecture_in"](SCRIPT.parents[1], "01"))
    assert nb.cells[0].source == bench["PRINT_PACKAGE"]
    assert any('DATASET = "fashion_mnist"' in c.source for c in nb.cells if c.cell_type == "code")
    nb.cells[0].outputs = [{"output_type": "stream", "name": "stdout", "text": "AE_HELPERS_FILE=/x/ae_helpers/__init__.py\n"}]
    assert bench["package_printed"](nb) == "/x/ae_helpers/__init__.py"
    runs = {"old": [{"seconds": s, "error": None} for s in (30, 10, 20)],
            "new": [{"seconds": 10, "error": None}, {"seconds": 99, "error": "boom"}]}
    assert bench["table"]({"01": runs}).splitlines()[-1] == "| 01 | 30.0, 10.0, 20.0 | 10.0 | 20.0 | 10.0 | 2.00× |"
