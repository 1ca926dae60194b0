"""Each grading kernel in an operating-system sandbox (bubblewrap), for the instructor's grader.

The guard and the fence of ``grading.py`` run inside the student's own process, so a submission
that gets past Python (a native library, a child process, ctypes) gets past them. Here the
kernel runs under `bubblewrap <https://github.com/containers/bubblewrap>`_ (Debian package
``bubblewrap``: no daemon, no root), which gives it

- no network (its own, empty network namespace) and its own process and IPC namespaces;
- a file system made of read-only binds of the system (``/usr``, ``/etc`` …), of the Python
  installation and its packages, of ``ae_helpers`` and of the data cache; nothing else of the
  machine is mounted: not the course's solutions, gradebook, other students or feedback;
- a private ``/tmp`` and, at the path of its own folder, a small tmpfs in which the folder's
  files are bound read-only: the notebook may write beside them, up to ``Limits.own_mb``;
- resource limits (``prlimit``): address space, CPU time, open files and file size; and a cap on
  processes, from ``RLIMIT_NPROC`` for a grader that is not root and from a ``pids`` cgroup
  for root (for whom the kernel ignores ``RLIMIT_NPROC``).

The kernel talks to nbgrader over ZeroMQ IPC sockets in a folder bound into the sandbox.
A cell that breaks a limit fails (``MemoryError``, ``OSError``, a dead kernel) for that student
only. Where bubblewrap is missing, ``available()`` says why and grading runs without it.
"""
from __future__ import annotations

import functools
import os
import secrets
import shutil
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_client.manager import AsyncKernelManager

if TYPE_CHECKING:                       # names for the hints only
    from jupyter_client.kernelspec import KernelSpec

    from .zygote import Zygote

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/sys", "/opt")
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap)"


@dataclass(frozen=True)
class Limits:
    """What one grading kernel may use."""
    memory_gb: float = 8.0      # address space of each process (RLIMIT_AS); torch needs ~3
    cpu_seconds: int = 900      # CPU time of each process (RLIMIT_CPU)
    open_files: int = 1024      # RLIMIT_NOFILE
    processes: int = 256        # processes and threads of the sandbox (torch starts one per core)
    file_mb: int = 256          # largest file it may write (RLIMIT_FSIZE)
    tmp_mb: int = 256           # its private /tmp
    own_mb: int = 256           # what it may write in its own folder


@functools.lru_cache(maxsize=1)
def available() -> str | None:
    """None when sandboxed kernels can start here, else the reason they cannot."""
    if sys.platform != "linux":
        return f"bubblewrap runs on Linux only (this is {sys.platform})"
    if shutil.which("bwrap") is None:
        return f"bwrap is not installed: {INSTALL_HINT}"
    if shutil.which("prlimit") is None:
        return "prlimit (util-linux) is not installed"
    probe = subprocess.run(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces here: {probe.stderr.strip() or probe.returncode}"
    return None


def read_only_paths(kernel_cmd: list[str]) -> list[str]:
    """The system, the Python of the kernel and of this process, their packages, ae_helpers and
    the data cache: what a kernel needs to run a notebook, and nothing of the course's files."""
    from .. import config
    exe = Path(kernel_cmd[0]) if kernel_cmd and os.path.isabs(kernel_cmd[0]) else Path(sys.executable)
    paths = [*SYSTEM, sys.base_prefix, sys.prefix, str(exe.parent.parent), str(exe.resolve().parent.parent),
             str(Path(__file__).resolve().parents[1]), str(config.data_dir())]
    paths += [p for p in sys.path if p and "site-packages" in p or p.endswith("lib-dynload")]
    paths.append(site.getusersitepackages() if site.ENABLE_USER_SITE else "")
    out: list[str] = []
    for p in paths:
        if p and os.path.exists(p) and p not in out:
            out.append(p)
    return out


def bwrap_command(kernel_cmd: list[str], own: Path, ipc: Path, limits: Limits,
                  cgroup: "PidsCgroup | None" = None) -> list[str]:
    """``kernel_cmd`` run by bwrap under ``prlimit`` (and in ``cgroup``): see the module's docstring."""
    args = _limited(limits, cgroup, cpu=True) + _bwrap(kernel_cmd, ipc, limits)
    args += ["--size", str(limits.own_mb << 20), "--tmpfs", str(own)]
    for entry in sorted(own.iterdir()) if own.is_dir() else []:
        args += ["--ro-bind", str(entry), str(entry)]
    return args + ["--chdir", str(own), "--"] + kernel_cmd


def zygote_bwrap_command(zygote_cmd: list[str], zygote: Zygote) -> list[str]:
    """The sandbox of a grading fork server (``zygote.Zygote``): as a kernel's, with its IPC
    folder writable, its inbox read-only and its work folder a tmpfs of ``Limits.own_mb``. The
    zygote lives for many kernels: each of them lowers its own CPU-time limit."""
    limits = zygote.limits
    args = _limited(limits, zygote.cgroup, cpu=False) + _bwrap(zygote_cmd, zygote.ipc, limits)
    args += ["--ro-bind", str(zygote.inbox), str(zygote.inbox),
             "--size", str(limits.own_mb << 20), "--tmpfs", str(zygote.work)]
    return args + ["--chdir", str(zygote.work), "--"] + zygote_cmd


def _limited(limits: Limits, cgroup: "PidsCgroup | None", cpu: bool) -> list[str]:
    """The command prefix that puts what follows in ``cgroup`` and under ``limits``."""
    args = []
    if cgroup is not None and cgroup.path is not None:     # the shell joins the cgroup, then execs
        args += ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cgroup.path / "cgroup.procs")]
    args += ["prlimit", f"--as={int(limits.memory_gb * 2**30)}", f"--nofile={limits.open_files}",
             f"--fsize={limits.file_mb << 20}"] + ([f"--cpu={limits.cpu_seconds}"] if cpu else [])
    if os.geteuid() != 0:                 # root ignores RLIMIT_NPROC: a cgroup caps it instead
        args.append(f"--nproc={_processes_of_this_user() + limits.processes}")
    return args + ["--"]


def _bwrap(cmd: list[str], ipc: Path, limits: Limits) -> list[str]:
    """bwrap with its namespaces, the read-only system, a private /tmp and ``ipc`` writable."""
    args = ["bwrap", "--unshare-all", "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--as-pid-1",
            "--dev", "/dev", "--proc", "/proc", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp"]
    for p in read_only_paths(cmd):
        args += ["--ro-bind", p, p]
    return args + ["--bind", str(ipc), str(ipc), "--setenv", "HOME", "/tmp",
                   "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib"]


def _processes_of_this_user() -> int:
    uid = os.getuid()
    return sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid)


def _owner(p: Path) -> int | None:
    try:
        return p.stat().st_uid
    except OSError:
        return None


class PidsCgroup:
    """A ``pids`` cgroup (v1 or v2) capping the processes of one sandbox, where root can make one."""

    def __init__(self, limit: int):
        self.path: Path | None = None
        for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
            if (base / "cgroup.procs").exists() and os.access(base, os.W_OK) and (
                    base.name == "pids" or "pids" in _read(base / "cgroup.controllers")):
                path = base / f"ae-grading-{secrets.token_hex(6)}"
                try:
                    path.mkdir()
                    (path / "pids.max").write_text(str(limit))
                except OSError:
                    continue
                self.path = path
                return

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the cgroup (nothing when none could be made)."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(pid))

    def remove(self) -> None:
        """Delete the cgroup once it is empty; one that still holds a process is left behind."""
        if self.path is not None:
            try:
                self.path.rmdir()
            except OSError:
                pass                      # a process still inside: left for the system to clean


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class MessageInterrupts:
    """Kernel-manager mixin: interrupts go to the kernel as messages (a signal from this process
    would reach bwrap or a fork server, not the kernel)."""

    @property
    def kernel_spec(self) -> KernelSpec | None:
        """The manager's kernel spec, with ``interrupt_mode`` set to ``"message"``."""
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec


class SandboxedKernelManager(MessageInterrupts, AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel runs in the sandbox, its own folder being the
    ``cwd`` it is started with. Interrupts go as messages (a signal would reach bwrap only)."""

    limits = Limits()

    def __init__(self, **kwargs):
        self._ipc = Path(tempfile.mkdtemp(prefix="ae-kernel-"))
        super().__init__(transport="ipc", ip=str(self._ipc / "kernel"), **kwargs)
        self.connection_file = str(self._ipc / "connection.json")
        self._own = Path.cwd()
        self._cgroup: PidsCgroup | None = None

    async def _async_pre_start_kernel(self, **kw):
        self._own = Path(kw.get("cwd") or os.getcwd()).resolve()
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The kernel's command line wrapped in ``bwrap_command`` (a pids cgroup first, as root)."""
        if os.geteuid() == 0 and self._cgroup is None:
            self._cgroup = PidsCgroup(self.limits.processes)
        return bwrap_command(super().format_kernel_cmd(extra_arguments), self._own, self._ipc,
                             self.limits, self._cgroup)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart)
        if not restart:
            if self._cgroup is not None:
                self._cgroup.remove()
            shutil.rmtree(self._ipc, ignore_errors=True)
