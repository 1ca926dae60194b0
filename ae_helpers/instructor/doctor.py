"""``ae-course doctor`` (environment check) and ``ae-course data`` (cache for offline machines).

``doctor`` prints one line per check, ``ok``, ``warn`` or ``FAIL``, each saying what to do; it
returns 1 when something required (Python, torch, nbgrader, a Python kernel) is missing.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import tarfile
from pathlib import Path
from typing import Callable

from .. import config
from .. import data as ae_data


def _version(module: str) -> str | None:
    try:
        return getattr(importlib.import_module(module), "__version__", "?")
    except Exception:
        return None


def _server_extensions() -> dict[str, bool]:
    """jpserver_extensions as Jupyter Server merges them from every config folder."""
    from jupyter_core.paths import jupyter_config_path
    merged: dict[str, bool] = {}
    for folder in reversed(jupyter_config_path()):         # lowest priority first
        files = [Path(folder) / "jupyter_server_config.json"]
        files += sorted((Path(folder) / "jupyter_server_config.d").glob("*.json"))
        for f in files:
            try:
                merged.update(json.loads(f.read_text()).get("ServerApp", {}).get("jpserver_extensions", {}))
            except (OSError, ValueError):
                continue
    return merged


def _lab_extension() -> tuple[bool, bool]:
    """(nbgrader's JupyterLab extension installed, disabled in a labconfig)."""
    from jupyter_core.paths import jupyter_config_path, jupyter_path
    installed = any((Path(p) / "@jupyter" / "nbgrader").is_dir() for p in jupyter_path("labextensions"))
    disabled = False
    for folder in jupyter_config_path():
        f = Path(folder) / "labconfig" / "page_config.json"
        try:
            off = json.loads(f.read_text()).get("disabledExtensions", {})
        except (OSError, ValueError):
            continue
        disabled |= any(k.startswith("@jupyter/nbgrader") and v for k, v in
                        (off.items() if isinstance(off, dict) else ((k, True) for k in off)))
    return installed, disabled


#: One line of the doctor: (level 'ok', 'warn' or 'FAIL', what was found, what to do or "").
Check = tuple[str, str, str]


def environment_checks() -> list[Check]:
    """(level, what, what to do) for every check; level is 'ok', 'warn' or 'FAIL'."""
    return [_python_check(), _torch_check(), *_library_checks(), *_nbgrader_checks(), _kernel_check(),
            *_grading_checks(), *_data_checks(), _fast_mode_check()]


def _python_check() -> Check:
    py = sys.version_info
    return ("ok" if py >= (3, 10) else "FAIL", f"python {platform.python_version()} ({sys.executable})",
            "" if py >= (3, 10) else "install Python ≥ 3.10 and reinstall the course (pip install -e '.[instructor]')")


def _torch_check() -> Check:
    """torch's version and the device it would train on."""
    torch_v = _version("torch")
    if torch_v is None:
        return ("FAIL", "torch is not installed", "pip install -e '.[instructor]' in the course repository")
    from ..train import device_and_name
    device, name = device_and_name()
    gpu = device.type != "cpu"
    return ("ok", f"torch {torch_v} ({device.type}: {name if gpu else 'no GPU'})", "" if gpu else
            "fine for grading (fast mode runs on CPU); full-mode training wants a GPU (Colab)")


def _library_checks() -> list[Check]:
    out = []
    for mod, why in (("numpy", "the course package"), ("matplotlib", "plots and reports"),
                     ("sklearn", "data sets"), ("skimage", "offline faces")):
        v = _version(mod)
        out.append(("ok", f"{mod} {v}", "") if v else ("FAIL", f"{mod} missing ({why})", "pip install -e '.[instructor]'"))
    return out


def _nbgrader_checks() -> list[Check]:
    """nbgrader's version, then its server extensions and JupyterLab extension."""
    nbg = _version("nbgrader")
    if nbg is None:
        return [("FAIL", "nbgrader is not installed", "pip install -e '.[instructor]' (the [instructor] extra has nbgrader)")]
    major_minor = tuple(int(x) for x in nbg.split(".")[:2] if x.isdigit())
    out = [("ok" if major_minor >= (0, 9) else "FAIL", f"nbgrader {nbg}",
            "" if major_minor >= (0, 9) else "pip install 'nbgrader>=0.9'")]
    ext = _server_extensions()
    for name in ("formgrader", "assignment_list", "course_list", "validate_assignment"):
        key = f"nbgrader.server_extensions.{name}"
        on = ext.get(key, False)
        out.append(("ok" if on else "warn", f"nbgrader server extension {name}: {'enabled' if on else 'disabled'}",
                    "" if on else f"jupyter server extension enable --sys-prefix {key}"))
    installed, disabled = _lab_extension()
    level = "ok" if installed and not disabled else "warn"
    out.append((level, "nbgrader JupyterLab extension: " + ("enabled" if installed and not disabled else
                                                            "disabled" if installed else "not installed"),
                "" if level == "ok" else ("jupyter labextension enable @jupyter/nbgrader" if installed
                                          else "pip install nbgrader (it ships the lab extension)")))
    return out


def _kernel_check() -> Check:
    try:
        from jupyter_client.kernelspec import KernelSpecManager
        KernelSpecManager().get_kernel_spec("python3")
        return ("ok", "Jupyter kernel python3", "")
    except Exception as err:
        return ("FAIL", f"no python3 Jupyter kernel ({type(err).__name__})",
                "pip install ipykernel && python -m ipykernel install --sys-prefix")


def _grading_checks() -> list[Check]:
    """The bubblewrap sandbox and the fork server of grading kernels."""
    from .sandbox import INSTALL_HINT, available
    reason = available()
    return [("ok", "grading sandbox: bubblewrap works (each grading kernel runs isolated)", "") if reason is None
            else ("warn", f"grading sandbox off: {reason}",
                  INSTALL_HINT if "not installed" in reason else "grading still works, guarded in-process only"),
            ("ok", "grading fork server: each kernel forked from one that imported torch once (about 0.5 s "
             "instead of 5 per notebook)" if sys.platform == "linux" else
             f"grading fork server: Linux only, every kernel starts from scratch on {sys.platform}", "")]


def _data_checks() -> list[Check]:
    """The data folder, then each data set: embedded, cached (and readable) or not."""
    out = [("ok", f"data directory {config.data_dir()}", "")]
    for name in ae_data.NAMES:
        if name == "digits":
            out.append(("ok", "data digits: embedded in scikit-learn", ""))
            continue
        path = ae_data.cache_path(name)
        if not path.exists():
            out.append(("warn", f"data {name}: not cached (stand-in: {ae_data.EMBEDDED[ae_data.FALLBACK[name]][1]}; "
                        "fast mode and grading never download)", "ae-course data fetch (online), or ae-course data unpack ARCHIVE"))
            continue
        try:
            x, _ = ae_data.read_cache(path)
            out.append(("ok", f"data {name}: {len(x)} images {x.shape[1]}×{x.shape[2]} "
                        f"({path.stat().st_size / 1e6:.1f} MB)", ""))
        except ae_data.CorruptCacheError as err:
            out.append(("FAIL", f"data {name}: {err}", f"delete {path} and run ae-course data fetch"))
    return out


def _fast_mode_check() -> Check:
    fast = config.fast_mode()
    return ("ok", f"fast mode {'ON' if fast else 'off'} (AE_FAST={os.environ.get('AE_FAST', '')!r}); "
            "nbgrader always grades in fast mode", "")


def doctor(say: Callable[[str], object] = print) -> int:
    """Run ``environment_checks`` and ``say`` one line each, then a verdict; 1 if a FAIL, else 0."""
    results = environment_checks()
    for level, what, fix in results:
        say(f"{level:<4}  {what}" + (f"  → {fix}" if fix else ""))
    failed = sum(level == "FAIL" for level, _, _ in results)
    say("everything required is in place" if not failed else f"{failed} required item(s) missing: see FAIL above")
    return 1 if failed else 0


# ----------------------------------------------------------------------------- data

def fetch(names: list[str] | None = None, say: Callable[[str], object] = print) -> list[str]:
    """Download every data set (or ``names``) once into the cache; return the names that failed."""
    failed = []
    for name in names or list(ae_data.FETCHERS):
        try:
            path = ae_data.download(name)
            x, _ = ae_data.read_cache(path)
            say(f"{name}: cached at {path} ({len(x)} images)")
        except (OSError, KeyError, ae_data.CorruptCacheError) as err:
            failed.append(name)
            say(f"{name}: NOT cached ({type(err).__name__}: {err})")
    return failed


def pack(archive: Path, say: Callable[[str], object] = print) -> Path:
    """Pack every valid cache file into one tar archive (the .npz files are compressed already)."""
    files = []
    for name in ae_data.NAMES:
        path = ae_data.cache_path(name)
        if path.exists():
            ae_data.read_cache(path)        # never ship a corrupt file
            files.append(path)
    if not files:
        raise SystemExit(f"nothing cached in {config.data_dir()}: run `ae-course data fetch` first (online)")
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w") as tar:
        for path in files:
            tar.add(path, arcname=path.name)
    say(f"packed {', '.join(p.stem for p in files)} into {archive} ({archive.stat().st_size / 1e6:.1f} MB); "
        "on the offline machine: ae-course data unpack " + archive.name)
    return archive


def unpack(archive: Path, say: Callable[[str], object] = print) -> list[Path]:
    """Unpack a ``pack`` archive into the data directory; only ``<name>.npz`` of known data sets,
    each checked before it replaces the cache file."""
    archive = Path(archive)
    if not archive.exists():
        raise SystemExit(f"{archive} does not exist")
    allowed = {f"{n}.npz" for n in ae_data.NAMES}
    written = []
    try:
        tar = tarfile.open(archive, "r")
    except tarfile.TarError as err:
        raise SystemExit(f"{archive} is not a data archive made by `ae-course data pack` ({err})") from None
    with tar:
        for member in tar.getmembers():
            if not member.isfile() or member.name not in allowed:
                say(f"skipped {member.name!r} (not a data set file)")
                continue
            dest = ae_data.cache_path(member.name[:-4])
            tmp = dest.with_name(dest.name + ".unpack.npz")
            with tar.extractfile(member) as src, tmp.open("wb") as out:
                out.write(src.read())
            try:
                ae_data.read_cache(tmp)
            except ae_data.CorruptCacheError as err:
                tmp.unlink()
                say(f"{member.name}: NOT unpacked ({err})")
                continue
            tmp.replace(dest)
            written.append(dest)
            say(f"unpacked {dest}")
    if not written:
        raise SystemExit(f"no data set file could be unpacked from {archive}")
    return written


def where(say: Callable[[str], object] = print) -> list[Path]:
    """Say where the data cache is and list its data set files with their sizes."""
    folder = config.data_dir()
    files = sorted(folder.glob("*.npz"))
    say(f"data directory: {folder}")
    for path in files:
        say(f"  {path.name}  {path.stat().st_size / 1e6:.1f} MB")
    return files


def data_command(action: str, names: list[str] | None = None, archive: Path | None = None) -> int:
    """``ae-course data fetch [NAMES] | where | pack [ARCHIVE] | unpack ARCHIVE``; the exit code."""
    if action == "fetch":
        failed = fetch(names)
        where()
        return 1 if failed else 0
    if action == "where":
        where()
        return 0
    if action == "pack":
        pack(archive or Path("ae_course_data.tar"))
        return 0
    if archive is None:
        raise SystemExit("ae-course data unpack ARCHIVE: name the archive made by `ae-course data pack`")
    unpack(archive)
    return 0
