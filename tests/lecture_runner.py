"""Run a lecture notebook top to bottom, on a chosen data set, and read back its claims.

A lecture names its 28×28 data set once, in its setup cell, as ``DATASET = "mnist"``; the
runner swaps that one line to run the same notebook on real Fashion-MNIST. Two data
variants:

- ``stand-in``: an empty data folder, so every data set falls back to its embedded
  stand-in (8×8 digits, ``lfw_subset`` faces), as on a machine that has cached nothing;
- ``real``: a data folder holding the real Fashion-MNIST of ``../shared/data/`` and a faces
  file shaped like Olivetti (40 people × 10 photos, 64×64), and ``DATASET = "fashion_mnist"``;
  a lecture on generated signals (``SIGNALS = (0, 1)``: seed, size) runs ``SIGNALS = (1, 2)``,
  another draw with twice the series, since no real sensor data set can be had offline.

Claims (``ae_helpers.claims``) are logged to a file that the caller reads; in strict mode
the first claim that does not hold stops the run. A *break* is a deliberate edit of the
lecture (``old`` → ``new`` in one cell) that must make the named claims fail.

Executed once per test session: ``RunCache`` keeps a strict fast-mode run (the executed
notebook with its figures, its claims, its error) per lecture content and variant in a folder
that the xdist workers of one session share (``session_cache``), so the real-data test of
``tests/notebooks/test_lectures.py`` and the website test ``tests/notebooks/test_site.py`` execute each lecture
once between them; a per-run file lock makes whichever asks first run it and the other wait.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from ae_helpers import claims
from ae_helpers.instructor.course import ROOT

DATASET_LINE = re.compile(r'^DATASET = "(\w+)"', re.MULTILINE)
#: Chapter 10's generated signals: ``SIGNALS = (seed, size)``; the real variant runs another, larger draw.
SIGNALS_LINE = re.compile(r"^SIGNALS = \(0, 1\)", re.MULTILINE)
SHARED_DATA = Path(os.environ.get("AE_SHARED_DATA", ROOT.parent / "shared" / "data"))
FASHION = SHARED_DATA / "fashion_mnist.npz"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@dataclass(frozen=True)
class Break:
    """A deliberate edit of one lecture cell: ``old`` (which must occur exactly once in the
    notebook) becomes ``new``, and every claim whose name starts with one of ``claims``
    must then fail."""

    old: str
    new: str
    claims: tuple[str, ...]


@dataclass
class Run:
    """What a lecture run left behind: the executed notebook, its claims, the error if any."""

    notebook: nbformat.NotebookNode
    claims: list[dict]
    error: str | None

    def failed_claims(self) -> list[str]:
        return [c["what"] for c in self.claims if not c["holds"]]


def lectures() -> list[Path]:
    return sorted((ROOT / "lectures").glob("*.ipynb"))


def setup_cell(nb) -> nbformat.NotebookNode:
    """The lecture's setup cell: its first code cell."""
    return next(c for c in nb.cells if c.cell_type == "code")


def dataset_of(nb) -> str | None:
    """The data set named by the setup cell's ``DATASET = "…"`` line, or None."""
    found = DATASET_LINE.findall(setup_cell(nb).source)
    return found[0] if len(found) == 1 else None


def uses_faces(nb) -> bool:
    return any('load_dataset("faces"' in c.source for c in nb.cells if c.cell_type == "code")


def uses_signals(nb) -> bool:
    """True when the setup cell draws generated signals (``SIGNALS = (0, 1)``), which the real variant
    replaces by ``SIGNALS = (1, 2)``: another seed and twice the series."""
    return bool(SIGNALS_LINE.search(setup_cell(nb).source))


def has_real_variant(nb) -> bool:
    """Whether the 'real' variant differs from the stand-in: a 28×28 data set, faces or generated signals."""
    return bool(dataset_of(nb) or uses_faces(nb) or uses_signals(nb))


def site_variant(nb) -> str:
    """The variant a lecture is shown in on the website: 'real' where it loads a 28×28 data set,
    faces or generated signals (the run its real-data test makes), else 'stand-in'."""
    return "real" if has_real_variant(nb) else "stand-in"


def apply_break(nb, brk: Break) -> None:
    """Edit ``nb`` in place; fail loudly when ``brk.old`` does not occur exactly once."""
    hits = [c for c in nb.cells if c.cell_type == "code" and brk.old in c.source]
    count = sum(c.source.count(brk.old) for c in hits)
    if count != 1:
        raise AssertionError(f"break {brk.old!r} occurs {count} times in the lecture, expected exactly once: "
                             "update the break to the lecture's current code")
    hits[0].source = hits[0].source.replace(brk.old, brk.new)


def olivetti_shaped_faces(n_people: int = 40, n_photos: int = 10, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Faces with Olivetti's layout (x uint8 (400, 64, 64), y person 0..39): the embedded
    lfw_subset faces with generated views, scaled up to 64×64. Real Olivetti cannot be had
    here; this exercises every count and size a lecture derives from that layout."""
    import torch
    import torch.nn.functional as F
    from ae_helpers.data import lfw_faces_with_views
    x, y = lfw_faces_with_views(n_views=n_photos)
    keep = y < n_people
    big = F.interpolate(torch.from_numpy(x[keep])[:, None], size=(size, size), mode="bilinear",
                        align_corners=False)[:, 0]
    return np.clip(np.rint(big.numpy() * 255), 0, 255).astype(np.uint8), y[keep]


def real_data_folder(folder: Path) -> Path:
    """Fill ``folder`` with the real-data cache: Fashion-MNIST (linked) and Olivetti-shaped faces."""
    from ae_helpers.data import write_cache
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "fashion_mnist.npz"
    if not target.exists():
        target.symlink_to(FASHION.resolve())
    if not (folder / "faces.npz").exists():
        write_cache(folder / "faces.npz", *olivetti_shaped_faces())
    return folder


def prepare(path: Path, variant: str, breaks: tuple[Break, ...] = ()) -> nbformat.NotebookNode:
    """The lecture at ``path``, set to run on ``variant`` ('stand-in' or 'real'), with ``breaks``."""
    nb = nbformat.read(path, as_version=4)
    if variant == "real":
        setup = setup_cell(nb)
        if dataset_of(nb):
            setup.source = DATASET_LINE.sub('DATASET = "fashion_mnist"', setup.source)
        setup.source = SIGNALS_LINE.sub("SIGNALS = (1, 2)", setup.source)
    for brk in breaks:
        apply_break(nb, brk)
    return nb


def run(path: Path, variant: str, data_folder: Path, *, breaks: tuple[Break, ...] = (), strict: bool = True,
        fast: bool = True, figures: bool = False, timeout: int = 600) -> Run:
    """Execute the lecture at ``path`` in a fresh kernel and return its claims.

    ``data_folder`` becomes ``AE_DATA_DIR`` (empty for the stand-in, see ``real_data_folder``).
    With ``strict`` a claim that does not hold stops the run (``Run.error`` holds the cell's
    traceback); cell errors, a cell that times out and a kernel that dies are returned, not
    raised, with the claims logged before them. With ``figures`` the kernel draws with the inline
    backend, as in JupyterLab, so the executed notebook keeps its figures (else with Agg, which
    saves the time of encoding them).
    """
    nb = prepare(path, variant, breaks)
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "claims.jsonl"
        error = execute(nb, path.parent, data_folder, log, strict=strict, fast=fast, figures=figures,
                        timeout=timeout)
        return Run(nb, claims.read_log(log), error)


def execute(nb: nbformat.NotebookNode, cwd: Path, data_folder: Path, claims_log: Path, *, strict: bool = True,
            fast: bool = True, figures: bool = False, timeout: int = 600, env: dict[str, str] | None = None
            ) -> str | None:
    """Execute ``nb`` in place in a fresh kernel started in ``cwd``, with the environment ``run``
    describes (``AE_FAST``, ``AE_DATA_DIR``, the backend, claims logged to ``claims_log``) plus
    ``env``; returns the error of a failing cell, a timeout or a dead kernel, else None."""
    settings = {"AE_FAST": "1" if fast else "0", "AE_DATA_DIR": str(data_folder),
                "MPLBACKEND": INLINE_BACKEND if figures else "Agg",
                claims.LOG_ENV: str(claims_log), claims.STRICT_ENV: "strict" if strict else "record", **(env or {})}
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            return f"{type(err).__name__}: {err}"     # the claims logged up to here are kept
        return None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def claim_sites(nb) -> int:
    """How many ``claim(`` calls the lecture's code cells make (each must log at least once)."""
    return sum(len(re.findall(r"(?<![\w.])claim\(", c.source)) for c in nb.cells if c.cell_type == "code")


# --------------------------------------------------------------------------- runs computed once

#: Names a folder for the cache of executed runs (else ``session_cache`` picks one per session).
CACHE_ENV = "AE_LECTURE_CACHE"


def session_cache(tmp_path_factory) -> "RunCache":
    """The run cache of this pytest session: ``$AE_LECTURE_CACHE`` if set, else a folder beside
    the xdist workers' base temporary folders (their common parent), so all workers share it."""
    if os.environ.get(CACHE_ENV):
        return RunCache(Path(os.environ[CACHE_ENV]))
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return RunCache(base / "lecture_runs")


def run_key(path: Path, variant: str) -> str:
    """``<lecture>-<variant>-<hash>``: the hash covers the lecture's bytes, the variant and the
    ``ae_helpers`` sources, so an edited lecture or helper is never served an old run."""
    digest = hashlib.sha256(path.read_bytes() + variant.encode())
    for source in sorted((ROOT / "ae_helpers").rglob("*.py")):
        digest.update(source.read_bytes())
    return f"{path.stem}-{variant}-{digest.hexdigest()[:16]}"


class RunCache:
    """Strict fast-mode runs of lectures, stored as ``<key>.ipynb`` (executed) and
    ``<key>.json`` (claims, error; written last, so its presence means the run is complete)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def load(self, path: Path, variant: str) -> Run | None:
        key = run_key(path, variant)
        record = self.folder / f"{key}.json"
        if not record.exists():
            return None
        saved = json.loads(record.read_text())
        return Run(nbformat.read(self.folder / f"{key}.ipynb", as_version=4), saved["claims"], saved["error"])

    def _store(self, path: Path, variant: str, result: Run) -> None:
        key = run_key(path, variant)
        for name, write in ((f"{key}.ipynb", lambda f: nbformat.write(result.notebook, f)),
                            (f"{key}.json", lambda f: f.write_text(
                                json.dumps({"claims": result.claims, "error": result.error})))):
            partial = self.folder / f".{name}.partial"
            write(partial)
            partial.replace(self.folder / name)

    @contextmanager
    def _lock(self, path: Path, variant: str, wait: bool):
        with open(self.folder / f"{run_key(path, variant)}.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get(self, path: Path, variant: str, data_folder: Callable[[], Path], *, wait: bool = True) -> Run | None:
        """The strict fast-mode run of ``path`` on ``variant``: from the cache, or executed now
        (on ``data_folder()``) and stored. While another process runs it, wait for it (or, with
        ``wait=False``, return None at once)."""
        found = self.load(path, variant)
        if found is not None:
            return found
        with self._lock(path, variant, wait) as locked:
            if not locked:
                return None
            found = self.load(path, variant)
            if found is None:
                found = run(path, variant, data_folder(), figures=True)
                self._store(path, variant, found)
            return found
