"""``ae_helpers.fit`` against the canonical PyTorch loop on a CUDA GPU (e.g. Colab), in one run.

Without CUDA it prints why it is skipped and exits 0. On a GPU it prints, for the VAE
784-400-20 and the MLP AE 784-256-64 of ``bench_fit.py`` (same models, data, canonical loop,
with each batch moved to the GPU as pytorch/examples does):

1. seconds per epoch at batch 128 of the canonical loop and of fit: plain, bf16 autocast
   (``amp=True``), ``compile=True`` and ``compile={"mode": "reduce-overhead"}`` (CUDA graphs);
2. host syncs per epoch of each (``torch.cuda.set_sync_debug_mode``: every synchronising call
   warns once; the warnings are counted);
3. time to the canonical 10-epoch test loss: fit's defaults, and the opt-in schedule setting
   (``bench_fit.SCHEDULE``) with and without bf16 autocast.

    python benchmarks/bench_gpu.py                 # Fashion-MNIST if present, else the stand-in
    python benchmarks/bench_gpu.py --data standin --json gpu.json
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_fit as bf  # noqa: E402

VARIANTS = {"fit": {}, "fit amp": {"amp": True}, "fit compile": {"compile": True},
            "fit compile cuda-graphs": {"compile": {"mode": "reduce-overhead"}}}


def skip_reason() -> str | None:
    """Why this benchmark cannot run here, or None when a CUDA device is available."""
    if not torch.cuda.is_available():
        build = torch.version.cuda or "none (a CPU-only build)"
        return (f"bench_gpu: skipped: CUDA is not available (torch {torch.__version__}, CUDA build: {build}). "
                "Run it where a GPU is, e.g. on Colab: python benchmarks/bench_gpu.py")
    return None


def count_syncs(fn) -> int:
    """Number of host-device synchronisations while ``fn()`` runs (sync debug mode warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def syncs_per_epoch(task: bf.Task, x_train, x_test, kwargs: dict) -> dict:
    """Host syncs per epoch of fit (with validation data) and of one canonical epoch.

    fit's count is (syncs of a 3-epoch run − those of a 1-epoch run) / 2, with model and data
    already on the GPU: setup (copies, optimiser, compilation) cancels out.
    """
    x_gpu, val_gpu = x_train.cuda(), x_test.cuda()

    def run(epochs: int) -> int:
        model = task.make_model().cuda()
        return count_syncs(lambda: bf.ae_helpers.fit(model, x_gpu, task.fit_step, epochs=epochs, val_data=val_gpu,
                                                     device="cuda", progress=False, **kwargs))
    canon = bf.CanonicalLoop(task, task.make_model().state_dict(), x_train, 1, "cuda")
    return {"fit": (run(3) - run(1)) / 2, "canonical": count_syncs(canon.epoch)}


def per_epoch_table(args, x_train, x_test) -> list[dict]:
    rows = []
    for task in bf.TASKS:
        for name, kwargs in VARIANTS.items():
            r = bf.race_same_batch(task, x_train, args.trials, args.seed, extra=kwargs)
            r.update(variant=name, syncs=syncs_per_epoch(task, x_train, x_test, kwargs))
            rows.append(r)
    bf.print_table(f"1-2. Seconds per epoch at batch {bf.CANONICAL_BATCH} on {torch.cuda.get_device_name(0)}, "
                   "and host syncs per epoch",
                   ["model", "fit variant", "canonical s/epoch", "fit s/epoch", "canonical/fit",
                    "first fit epoch s", "syncs/epoch fit", "syncs/epoch canonical"],
                   [[r["model"], r["variant"], f"{r['canonical_s_per_epoch']:.3f}", f"{r['fit_s_per_epoch']:.3f}",
                     bf._fmt_ratio(r["ratio_canonical_over_fit"]), f"{r['warmup_epoch_s']['fit']:.2f}",
                     f"{r['syncs']['fit']:g}", f"{r['syncs']['canonical']:g}"] for r in rows],
                   ["median of the interleaved epochs after the first (the first holds compilation).",
                    "syncs: fit with validation data, (3-epoch run - 1-epoch run) / 2; canonical: one "
                    "epoch (a batch copy and loss.item() per step)."])
    return rows


def to_target_table(args, x_train, x_test) -> list[dict]:
    rows = []
    for task in bf.TASKS:
        r = bf.race_to_target(task, x_train, x_test, args.epochs, 3 * args.epochs, {}, args.seed)
        rows.append({"model": task.name, "setting": "fit defaults", "epochs": r["fit_epochs"],
                     "canonical_s": r["canonical_s"], "fit_s": r["fit_s"], "ratio": r["ratio_canonical_over_fit"]})
        for amp in (False, True):
            setting = {**bf.SCHEDULE, "amp": amp}
            r = bf.schedule_to_target(task, x_train, x_test, args.epochs, [2, 3, 4, 5, 6], setting, args.seed)
            rows.append({"model": task.name, "setting": f"schedule{' + amp' if amp else ''}",
                         "epochs": r["fit_epochs"], "canonical_s": r["canonical_s"], "fit_s": r["fit_s"],
                         "ratio": r["ratio_canonical_over_fit"]})
    bf.print_table(f"3. Time to the canonical {args.epochs}-epoch test loss on the GPU",
                   ["model", "fit setting", "fit epochs", "canonical s", "fit s", "canonical/fit"],
                   [[r["model"], r["setting"], str(r["epochs"] or "not reached"), f"{r['canonical_s']:.2f}",
                     "-" if r["fit_s"] is None else f"{r['fit_s']:.2f}", bf._fmt_ratio(r["ratio"])] for r in rows],
                   [f"schedule = {bf.SCHEDULE}; each row's canonical loop ran interleaved with it."])
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", choices=("auto", "fashion", "standin"), default="fashion")
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    reason = skip_reason()
    if reason:
        print(reason)
        return {"skipped": reason}
    if args.data == "fashion" and bf.fashion_path() is None:
        args.data = "standin"
    x_train, x_test, source = bf.load_data(args.n_train, args.n_test, args.seed, args.data)
    print(f"bench_gpu: torch {torch.__version__}, {torch.cuda.get_device_name(0)}, {bf._load()} at start")
    print(f"data: {source}")
    results = {"device": torch.cuda.get_device_name(0), "data": source, "load_at_start": bf._load(),
               "per_epoch": per_epoch_table(args, x_train, x_test),
               "to_target": to_target_table(args, x_train, x_test)}
    results["load_at_end"] = bf._load()
    print(f"\nmachine: {results['load_at_end']} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return results


if __name__ == "__main__":
    main()
    sys.exit(0)
