"""A fork server for grading kernels: each notebook still gets a fresh process, without paying
for Python, torch and IPython to start again.

Starting a kernel and importing torch, ``torch._dynamo`` (which torch's optimisers import at
their first step), matplotlib and IPython costs about 5 s of CPU; grading a notebook of this
course costs about 2 s more. So a grading process starts one *zygote* (this module run as
``python -m ae_helpers.instructor.zygote``), which imports all of that once and then, for each notebook,
forks a child that becomes the notebook's kernel. The child is a new process with nothing of any
other student in it: the zygote never runs student code, and before every kernel it starts (and
after every kernel ends) it kills every process that is left and empties the scratch folders.

Where bubblewrap works, the zygote runs inside the OS sandbox of ``sandbox.py`` (no network,
the system read-only, nothing of the course mounted) as the first process of its own PID
namespace: a kernel cannot signal it, cannot trace it (it is not dumpable) and cannot reach its
control pipe (stdin and stdout, closed in every child). The kernel's working folder there is a
small tmpfs (``Limits.own_mb``) with links to the notebook's files, which the grader hard-links
into a folder bound read-only into the sandbox (as ``sandbox.py`` binds them for a kernel started
from scratch: readable, not writable; new files may be written beside them); without the sandbox the kernel
runs in the student's own folder, as with ``nbgrader``'s usual kernels.

Each child lowers its own limits (``Limits``: memory, CPU time, open files, file size) before
it runs anything; the random generators of ``random``, numpy and torch are seeded afresh from the
operating system in every child, as they are in a new process.

Protocol: one JSON object per line on the zygote's stdin, one JSON reply per line on its stdout.
"""
from __future__ import annotations

import json
import os
import shutil
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from .course import student_runtime_modules
from .sandbox import MessageInterrupts

if TYPE_CHECKING:                       # names for the hints only
    from .sandbox import Limits

#: Modules a graded notebook of this course imports, loaded once by the zygote: the libraries,
#: then the whole student runtime (every module of ``ae_helpers`` outside this subpackage).
PRELOAD = ("numpy", "numpy.testing", "torch", "torch.nn", "torch.nn.functional", "torch.optim",
           "torch.testing", "torch.utils.data", "torch._dynamo", "matplotlib", "matplotlib.pyplot",
           "matplotlib_inline.backend_inline", "sklearn.linear_model", "IPython", "ipykernel.kernelapp",
           "ipykernel.ipkernel", *student_runtime_modules())
READY_TIMEOUT = 180.0     # seconds for the zygote to import everything, on a busy machine
_PR_SET_DUMPABLE, _PR_SET_CHILD_SUBREAPER = 4, 36


# ----------------------------------------------------------------------------- the zygote


class Server:
    """The zygote's side: preload, then serve requests read from ``control_in``."""

    def __init__(self, control_in: IO[str], control_out: IO[str], scratch: list[str], keep: list[str]):
        self.control_in, self.control_out = control_in, control_out
        self.scratch = scratch              # folders emptied between kernels (/tmp, the work folder)
        self.keep = {Path(k) for k in keep} | mount_points()   # ... but for these (the binds)
        self.returncodes: dict[int, int] = {}
        self.kernels: set[int] = set()
        self.namespace_init = os.getpid() == 1

    def run(self) -> None:
        """Serve until the grader closes the pipe (or dies); then end every kernel left."""
        for line in self.control_in:
            request = json.loads(line)
            try:
                reply = getattr(self, "do_" + request.pop("op"))(**request)
            except Exception as err:  # a bad request must not end the server
                reply = {"error": f"{type(err).__name__}: {err}"}
            self.control_out.write(json.dumps(reply) + "\n")
            self.control_out.flush()
        self.do_reset()

    def do_spawn(self, connection: dict, cwd: str, env: dict, limits: dict,
                 link_from: str | None = None) -> dict[str, int]:
        """Fork a kernel (``_become_kernel``) in ``cwd``, after linking the files of ``link_from``
        into it; reply ``{"pid": ...}``."""
        if link_from:          # the notebook's files, read-only, beside what the kernel may write
            for entry in sorted(Path(link_from).iterdir()):
                os.symlink(entry, Path(cwd) / entry.name)
        pid = os.fork()
        if pid == 0:
            _become_kernel(connection, cwd, env, limits, [self.control_in.fileno(), self.control_out.fileno()])
        self.kernels.add(pid)
        return {"pid": pid}

    def do_poll(self, pid: int) -> dict[str, int | None]:
        """Reply ``{"returncode": ...}`` of kernel ``pid``: None while it runs."""
        self._reap()
        return {"returncode": self.returncodes.get(pid)}

    def do_signal(self, pid: int, signum: int) -> dict:
        """Send ``signum`` to kernel ``pid`` if it is one of ours and still runs; reply ``{}``."""
        self._reap()
        if pid in self.kernels and pid not in self.returncodes:
            os.kill(pid, signum)
        return {}

    def do_reset(self) -> dict[str, int | list[str]]:
        """Kill every process but this one, reap them, and empty the scratch folders."""
        deadline = time.monotonic() + 10
        while self._others() and time.monotonic() < deadline:
            for pid in self._others():
                _kill(pid)
            if self.namespace_init:
                _kill(-1)                 # everything in this PID namespace but its init (us)
            time.sleep(0.01)
            self._reap()
        left = self._others()
        dirty = [folder for folder in self.scratch if not _empty(Path(folder), self.keep)]
        return {"left": len(left), "dirty": dirty}

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.kernels:
                self.returncodes[pid] = os.waitstatus_to_exitcode(status)

    def _others(self) -> list[int]:
        """Processes to clear: all others of the PID namespace, or this process's descendants."""
        me, parents = os.getpid(), {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != me:
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if self.namespace_init:
            return sorted(parents)
        mine = {me}
        grew = True
        while grew:
            new = {pid for pid, ppid in parents.items() if ppid in mine and pid not in mine}
            mine |= new
            grew = bool(new)
        return sorted(mine - {me})


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _empty(folder: Path, keep: set[Path] = frozenset()) -> bool:
    """Remove everything inside ``folder`` (folders a kernel made unreadable too) but the paths in
    ``keep`` (mount points) and the folders on the way to them; True if nothing else is left."""
    if not folder.is_dir():
        return True
    clean = True
    for entry in list(folder.iterdir()):
        if entry in keep:
            continue
        if any(entry in k.parents for k in keep):
            clean = _empty(entry, keep) and clean
            continue
        _writable(entry)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink()
            except OSError:
                pass
        if os.path.lexists(entry):
            print(f"ae_helpers.instructor.zygote: could not remove {entry}", file=sys.stderr, flush=True)
            clean = False
    return clean


def mount_points() -> set[Path]:
    """Every mount point of this process's mount namespace (the sandbox's binds among them)."""
    points = set()
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            points.add(Path(line.split()[4].replace("\\040", " ")))
    except OSError:
        pass
    return points


def _writable(path: Path) -> None:
    """Give the owner (this user: no kernel has any other) every right on ``path`` and below."""
    try:
        if path.is_symlink():
            return
        os.chmod(path, 0o700)
        if path.is_dir():
            for child in path.iterdir():
                _writable(child)
    except OSError:
        pass


def _prctl(option: int, value: int) -> None:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _become_kernel(connection: dict, cwd: str, env: dict, limits: dict, control_fds: list[int]) -> None:
    """In the forked child: cut the control pipe, lower the limits, become an IPython kernel."""
    code = 1
    try:
        for fd in control_fds:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1):
            os.dup2(null, fd)
        os.setsid()
        _prctl(_PR_SET_DUMPABLE, 1)          # its own /proc entries, as in any new process
        _lower_limits(limits)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update({k: v for k, v in env.items() if k != "JPY_PARENT_PID"})
        _reseed()
        path = Path(connection["ip"] + ".json")          # beside its sockets, in the IPC folder
        path.write_text(json.dumps(connection))
        sys.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(path)]
        from ipykernel.kernelapp import IPKernelApp
        app = IPKernelApp.instance()
        app.initialize(["-f", str(path)])
        os.dup2(null, 2)
        app.start()
        code = 0
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        os._exit(code)


def _lower_limits(limits: dict) -> None:
    import resource
    names = {"memory": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "open_files": resource.RLIMIT_NOFILE,
             "file": resource.RLIMIT_FSIZE}
    for key, value in limits.items():
        soft, hard = resource.getrlimit(names[key])
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(names[key], (value, value))


def _reseed() -> None:
    import random
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()


def _preload() -> list[str]:
    import importlib
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    failed = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:                 # a missing optional module is imported by the kernel, if at all
            failed.append(name)
    return failed


def serve(scratch: list[str], keep: list[str]) -> None:
    """Entry point of the zygote process (``python -m ae_helpers.instructor.zygote '{"scratch": …, "keep": …}'``):
    ``scratch``: folders to empty between kernels, but for the folders ``keep``."""
    control_in = os.fdopen(os.dup(0), "r")
    control_out = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)                         # a stray print goes to the log, not into the protocol
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    failed = _preload()
    _prctl(_PR_SET_DUMPABLE, 0)           # no kernel may trace this process or read its memory
    if os.getpid() != 1:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)    # orphans of a kernel come back here to be cleared
    control_out.write(json.dumps({"ready": True, "threads": threading.active_count(),
                                  "not_preloaded": failed}) + "\n")
    control_out.flush()
    Server(control_in, control_out, scratch, keep).run()


# ----------------------------------------------------------------------------- the grader's side


class ZygoteError(RuntimeError):
    """The zygote did not start or stopped answering."""


class Zygote:
    """The grader's handle on one zygote process (sandboxed or not). Thread-safe."""

    def __init__(self, sandboxed: bool, limits: Limits | None = None):
        from .sandbox import Limits
        self.sandboxed = sandboxed
        self.limits = limits or Limits()
        self.dir = Path(tempfile.mkdtemp(prefix="ae-zygote-"))
        self.ipc, self.inbox, self.work = self.dir / "ipc", self.dir / "inbox", self.dir / "work"
        for d in (self.ipc, self.inbox, self.work):
            d.mkdir()
        self.log_path = self.dir / "zygote.log"
        self._lock = threading.Lock()
        self.cgroup = None
        cmd = [sys.executable, "-m", "ae_helpers.instructor.zygote"]
        if sandboxed:       # its /tmp is its own; the inbox is read-only there, not emptied by it
            from .sandbox import PidsCgroup, zygote_bwrap_command
            if os.geteuid() == 0:
                self.cgroup = PidsCgroup(self.limits.processes)
            args = {"scratch": ["/tmp", "/dev/shm", str(self.work), str(self.ipc)],
                    "keep": [str(self.work), str(self.ipc), str(self.inbox)]}
            cmd = zygote_bwrap_command(cmd + [json.dumps(args)], self)
        else:
            cmd += [json.dumps({"scratch": [str(self.ipc)], "keep": []})]
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                         text=True, bufsize=1, start_new_session=True, env=_zygote_env())
        self.ready = ready = self._read(READY_TIMEOUT)
        if not ready.get("ready"):
            raise ZygoteError(f"the grading fork server did not start: {ready}")
        if ready.get("threads", 1) != 1:     # native pools (OpenBLAS) stop and restart across fork
            self.close()
            raise ZygoteError(f"the grading fork server has {ready['threads']} Python threads after its "
                              "imports; forking it would not be safe")

    def alive(self) -> bool:
        """Whether the zygote process still runs."""
        return self.proc.poll() is None

    def request(self, op: str, **args: object) -> dict:
        """Send ``op`` with ``args`` to the zygote and return its reply; ZygoteError when it has
        stopped, does not answer within 60 s, or answers with an error."""
        with self._lock:
            if not self.alive():
                raise ZygoteError(f"the grading fork server has stopped (log: {self.log_path})")
            try:
                self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
                self.proc.stdin.flush()
            except OSError as err:
                raise ZygoteError(f"the grading fork server has stopped ({err})") from err
            reply = self._read(60.0)
        if "error" in reply:
            raise ZygoteError(f"the grading fork server could not {op}: {reply['error']}")
        return reply

    def _read(self, timeout: float) -> dict:
        """The zygote's one-line reply (one request is outstanding at a time, so nothing else is buffered)."""
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise ZygoteError("the grading fork server did not answer; its log:\n" + self._log_tail())
        return json.loads(line)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def reset(self) -> bool:
        """Kill what the last kernel left and empty the scratch folders; False if that failed."""
        reply = self.request("reset")
        self.last_reset = reply
        return not reply["left"] and not reply["dirty"]

    def spawn(self, connection: dict, folder: str, env: dict) -> "ForkedProcess":
        """A new kernel for the notebook in ``folder``; returns its process handle."""
        if not self.reset():
            log = self._log_tail()
            self.close()
            raise ZygoteError(f"the grading fork server could not clear what the last kernel left: "
                              f"{self.last_reset}\n{log}")
        if self.sandboxed:
            _empty(self.inbox)
            _stage(Path(folder), self.inbox, self.limits.own_mb << 20)
            where = {"cwd": str(self.work), "link_from": str(self.inbox)}
        else:
            where = {"cwd": str(folder)}
        limits = {"memory": int(self.limits.memory_gb * 2**30), "cpu": self.limits.cpu_seconds,
                  "open_files": self.limits.open_files, "file": self.limits.file_mb << 20}
        pid = self.request("spawn", connection=connection, env=env, limits=limits, **where)["pid"]
        return ForkedProcess(self, pid)

    def close(self) -> None:
        """Kill the zygote and everything in its session; remove its cgroup and folders."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        if self.cgroup is not None:
            self.cgroup.remove()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


#: Most files a notebook's folder may hold to be graded in the sandbox (they are linked in one by one).
MAX_FILES = 5000


def _stage(folder: Path, inbox: Path, max_bytes: int) -> None:
    """Hard-link (or copy, across file systems) the files of ``folder`` into ``inbox``."""
    count = size = 0
    for root, dirs, files in os.walk(folder):
        target = inbox / Path(root).relative_to(folder)
        target.mkdir(exist_ok=True)
        for name in files + [d for d in dirs if (Path(root) / d).is_symlink()]:
            src, dst = Path(root) / name, target / name
            count, size = count + 1, size + src.lstat().st_size
            if count > MAX_FILES or size > max_bytes:
                raise ZygoteError(f"{folder} holds more than {MAX_FILES} files or {max_bytes >> 20} MB: "
                                  "a notebook's folder is linked into the grading sandbox whole; "
                                  "move large files out of it")
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
                continue
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


def _zygote_env() -> dict:
    from .course import nbgrader_env
    env = nbgrader_env()
    env.pop("JPY_PARENT_PID", None)
    return env


class ForkedProcess:
    """What ``jupyter_client``'s provisioner needs of a ``Popen``, for a kernel the zygote forked."""

    stdin = stdout = stderr = None

    def __init__(self, zygote: Zygote, pid: int):
        self.zygote, self.pid, self.returncode = zygote, pid, None

    def poll(self) -> int | None:
        """The kernel's exit code (asked of the zygote), or None while it runs."""
        if self.returncode is None:
            try:
                self.returncode = self.zygote.request("poll", pid=self.pid)["returncode"]
            except ZygoteError:
                self.returncode = -signal.SIGKILL       # the zygote's sandbox took its kernels with it
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the kernel to end (``subprocess.TimeoutExpired`` after ``timeout`` s); its exit code."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Have the zygote send ``signum`` to the kernel, if it still runs."""
        if self.poll() is None:
            self.zygote.request("signal", pid=self.pid, signum=int(signum))

    def kill(self) -> None:
        """SIGKILL the kernel."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM the kernel."""
        self.send_signal(signal.SIGTERM)


_idle: dict[bool, list[Zygote]] = {True: [], False: []}
_all: list[Zygote] = []
_pool_lock = threading.Lock()


def acquire(sandboxed: bool) -> Zygote:
    """An idle zygote of this process (one kernel at a time each), started if there is none."""
    with _pool_lock:
        while _idle[sandboxed]:
            z = _idle[sandboxed].pop()
            if z.alive():
                return z
            z.close()
    z = Zygote(sandboxed)
    with _pool_lock:
        _all.append(z)
    return z


def release(z: Zygote) -> None:
    """Clear what the last kernel left and give ``z`` back to the pool."""
    try:
        clean = z.reset()
    except ZygoteError:
        clean = False
    if not clean:                         # never hand on what might hold a kernel's leftovers
        z.close()
        return
    with _pool_lock:
        _idle[z.sandboxed].append(z)


def close_all() -> None:
    """Close every zygote this process started (at exit)."""
    with _pool_lock:
        for z in _all:
            z.close()
        _all.clear()
        _idle[True].clear()
        _idle[False].clear()


class ForkedProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, with the kernel forked by a zygote."""

    async def launch_kernel(self, cmd: list[str], **kw: object) -> dict:
        """Have the manager's zygote fork the kernel (``cmd`` is not run); its connection info."""
        info = {k: v.decode() if isinstance(v, bytes) else v for k, v in self.connection_info.items()}
        cwd = str(kw.get("cwd") or os.getcwd())
        self.process = self.parent.zygote.spawn(info, cwd, dict(kw.get("env") or os.environ))
        self.pid, self.pgid, self.cwd = self.process.pid, None, cwd
        return self.connection_info

    async def cleanup(self, restart: bool = False) -> None:
        """LocalProvisioner's cleanup; unless restarting, the zygote goes back to the pool."""
        await super().cleanup(restart)
        if not restart:
            self.parent.release_zygote()


class ForkedKernelManager(MessageInterrupts, AsyncKernelManager):
    """A kernel manager whose kernels a zygote forks (``sandboxed``: one inside bubblewrap).
    Interrupts go as messages, as in ``sandbox.SandboxedKernelManager``."""

    sandboxed = False
    zygote: Zygote | None = None

    async def _async_pre_start_kernel(self, **kw):
        if self.zygote is None:
            self.zygote = acquire(self.sandboxed)
            self.transport, self.ip = "ipc", str(self.zygote.ipc / secrets.token_hex(8))
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = ForkedProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                 parent=self)
        return await super()._async_pre_start_kernel(**kw)

    def release_zygote(self) -> None:
        """Give this manager's zygote back to the pool (``release``)."""
        if self.zygote is not None:
            release(self.zygote)
            self.zygote = None


class SandboxedForkedKernelManager(ForkedKernelManager):
    """A ``ForkedKernelManager`` whose zygote runs inside bubblewrap."""

    sandboxed = True


import atexit  # noqa: E402  (registered once, when the grader first imports this module)

atexit.register(close_all)


if __name__ == "__main__":
    serve(**json.loads(sys.argv[1]))
