"""Kernel-side half of the grading guard (see ``ae_helpers.instructor.preprocessors.GuardedExecute``).

While nbgrader executes a submission, the grader sends the source of this module into the
kernel once, before the first cell, and then calls ``restore()`` silently before every graded
test cell. ``restore`` undoes what a submission may have done to switch tests off:

- IPython hooks: input and AST transformers, a custom exception handler, event callbacks,
  methods patched onto the shell or the kernel object;
- attributes of the modules that tests compare with (``builtins``, ``math``, ``operator``,
  numpy, torch, ``ae_helpers.checks``) or that the fence below resolves paths with (``os``,
  ``posixpath``, ``stat``), and the methods of ``torch.Tensor``;
- names that locked cells imported into the notebook's namespace (``check_close`` …), which
  ``record(names)`` notes after each locked cell.

``fence(private, own)`` is installed once, with the guard: a Python audit hook (which code
in the process cannot remove) that denies the kernel the instructor's files — the solutions,
the gradebook with its hidden tests, other students' submissions and feedback — and with
them every way round it the hook can see: new processes, links, renames, directory file
descriptors, libc's file functions and the C API through ctypes.

Everything here runs inside the student's kernel, so it raises the bar rather than making
tampering impossible: graders who face determined attackers should also run autograde in a
container (INSTRUCTORS.md). The state lives in one object stored under a random name.
"""
from __future__ import annotations

import importlib
import os
import posixpath
import stat
import sys
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:                       # names for the hints only: nothing more runs in the kernel
    from typing import Any, Callable

    from IPython.core.interactiveshell import InteractiveShell

MODULES = ("builtins", "math", "operator", "os", "posixpath", "stat", "numpy", "numpy.testing", "torch",
           "torch.nn.functional", "torch.testing", "ae_helpers.checks")


class Guard:
    """Snapshot of the kernel's grading-relevant state, taken before any student code runs."""

    def __init__(self, shell: InteractiveShell):
        self.shell = shell
        self.modules = {}
        for name in MODULES:
            try:
                module = importlib.import_module(name)
            except Exception:  # a missing optional module cannot be patched either
                continue
            self.modules[name] = (module, dict(vars(module)))
        self.classes = [(cls, dict(vars(cls))) for cls in self._classes()]
        self.instances = [(obj, dict(vars(obj))) for obj in (shell, getattr(shell, "kernel", None))
                          if obj is not None]
        self.lists = {attr: list(getattr(shell, attr)) for attr in
                      ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
                      if hasattr(shell, attr)}
        self.callbacks = {event: list(cbs) for event, cbs in shell.events.callbacks.items()}
        self.custom = (shell.custom_exceptions, shell.CustomTB)
        self.sys_hooks = (sys.excepthook, sys.displayhook)
        self.names = {}

    def _classes(self):
        torch = self.modules.get("torch", (None,))[0]
        seen = [] if torch is None else [torch.Tensor]
        for obj in (self.shell, getattr(self.shell, "kernel", None)):
            for cls in type(obj).__mro__ if obj is not None else ():
                if cls is not object and cls not in seen:
                    seen.append(cls)
        return seen

    def record(self, names: list[str]) -> str:
        """Remember the current values of ``names`` in the user namespace (after a locked cell)."""
        ns = self.shell.user_ns
        self.names.update({n: ns[n] for n in names if n in ns})
        return "done"

    def restore(self) -> str:
        """Put back everything of the snapshot a submission may have changed (see the module's
        docstring); ``"done"``, which the grader checks, when nothing raised."""
        for module, saved in self.modules.values():
            _restore_dict(module, saved)
        for cls, saved in self.classes:  # classes keep no state: every attribute goes back
            for key in [k for k in vars(cls) if k not in saved]:
                delattr(cls, key)
            _restore_dict(cls, saved, everything=True)
        for obj, saved in self.instances:  # methods patched onto the shell or kernel object
            for key in [k for k, v in vars(obj).items() if callable(v) and k not in saved]:
                delattr(obj, key)
            _restore_dict(obj, saved)
        for attr, saved in self.lists.items():
            getattr(self.shell, attr)[:] = saved
        for event, saved in self.callbacks.items():
            self.shell.events.callbacks[event][:] = saved
        self.shell.custom_exceptions, self.shell.CustomTB = self.custom
        sys.excepthook, sys.displayhook = self.sys_hooks
        self.shell.user_ns.update(self.names)
        return "done"


def _restore_dict(obj, saved: dict, everything: bool = False) -> None:
    """Put back the attributes of ``obj`` that were replaced: functions, classes and modules
    (or, with ``everything``, any attribute, descriptors included)."""
    current = vars(obj)
    for key, value in saved.items():
        if current.get(key, _MISSING) is value:
            continue
        if everything or callable(value) or _is_module(value):
            try:
                setattr(obj, key, value)
            except (AttributeError, TypeError):  # read-only slots cannot have been patched
                pass


def _is_module(value) -> bool:
    return type(value).__name__ == "module"


_MISSING = object()


#: Audit events that start a process: a child process is not under the audit hook.
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                            "os.fork", "os.forkpty", "pty.spawn", "os.startfile"})
#: Audit events with paths: how many of the leading arguments are paths.
PATH_EVENTS = {"open": 1, "os.rename": 2, "os.link": 2, "os.symlink": 2, "os.remove": 1, "os.rmdir": 1,
               "os.truncate": 1, "os.chmod": 1, "os.chown": 1, "os.listdir": 1, "os.scandir": 1,
               "os.utime": 1, "os.mkdir": 1, "sqlite3.connect": 1, "shutil.copyfile": 2,
               "shutil.copytree": 2, "shutil.move": 2, "shutil.rmtree": 1}
#: Audit events that hand out every live object (and with them the hook's own closures).
OBJECT_LIST_EVENTS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents"})
#: libc functions that would open files or start processes behind the hook's back.
NATIVE = frozenset({"open", "open64", "openat", "openat64", "fopen", "fopen64", "freopen", "creat",
                    "system", "popen", "fork", "vfork", "execv", "execve", "execvp", "execl", "execlp",
                    "posix_spawn", "posix_spawnp", "syscall", "dlopen", "dlsym", "link", "symlink",
                    "rename", "chdir", "fchdir"})


def fence(private: list[str], own: str) -> None:
    """Deny this process the ``private`` paths (and all inside them) except what is inside
    ``own``; new processes; the libc functions and the C API through ctypes; and the ways
    round a path check: relative paths that climb with ``..`` (they may be meant relative to a
    directory descriptor), and links, renames or directory descriptors of a folder that holds
    a private path. Paths are resolved through symlinks; if a submission replaced a function of
    ``os``, ``posixpath`` or ``stat`` (which resolving uses), every path event is denied.

    The rules are built here, before any student code runs, as closures over the functions and
    values of this moment, tables included (read-only copies: emptying this module's tables
    later, reachable from the guard's methods, changes nothing): the audit hook keeps them
    whatever is replaced later. The garbage collector's object lists, which would reach those
    closures, are denied too."""
    denied = _event_rule(_path_rule(private, own), _os_replaced())
    watched = frozenset(PROCESS_EVENTS | set(PATH_EVENTS) | OBJECT_LIST_EVENTS | {"ctypes.dlsym"})

    def hook(event, args):
        if event not in watched:          # the hook sees every audit event: leave others at once
            return
        reason = denied(event, args)
        if reason:
            raise PermissionError(f"grading runs without access to {reason} ({event})")

    sys.addaudithook(hook)


def _path_rule(private: list[str], own: str) -> Callable[[str, Any], str | None]:
    """``path_denied(event, arg)``: why the path ``arg`` of ``event`` is denied, or None. Holds
    ``realpath`` and the other path functions as they are now."""
    realpath, fspath, fsdecode, isdir, isabs, sep = (posixpath.realpath, os.fspath, os.fsdecode,
                                                     posixpath.isdir, posixpath.isabs, os.sep)
    roots = [realpath(p) for p in private]
    own = realpath(own)

    def inside(path: str, folder: str) -> bool:
        return path == folder or path.startswith(folder.rstrip(sep) + sep)

    def path_denied(event: str, arg) -> str | None:
        if arg is None or isinstance(arg, int):
            return None
        try:
            raw = fsdecode(fspath(arg))
            path = realpath(raw)
        except Exception:
            return "paths it cannot read"
        if not isabs(raw) and ".." in raw.split(sep):
            return "relative paths that climb with '..'"
        if inside(path, own):
            return None
        if any(inside(path, root) for root in roots):
            return "the instructor's files"
        holds_private = any(inside(root, path) for root in roots)
        if holds_private and (event != "open" or isdir(path)):
            return "folders that hold the instructor's files"
        return None

    return path_denied


def _os_replaced() -> Callable[[], bool]:
    """``patched()``: whether a function of ``os``, ``posixpath`` or ``stat`` differs from now."""
    saved = [(vars(module), [(k, v) for k, v in vars(module).items() if callable(v)])
             for module in (os, posixpath, stat)]

    def patched() -> bool:
        return any(namespace.get(k) is not v for namespace, items in saved for k, v in items)

    return patched


def _event_rule(path_denied: Callable[[str, Any], str | None],
                patched: Callable[[], bool]) -> Callable[[str, tuple], str | None]:
    """``denied(event, args)``: why the audit event is denied (a process, a native function, a
    path, the list of live objects), or None. Holds read-only copies of the tables."""
    process_events, object_events, native = PROCESS_EVENTS, OBJECT_LIST_EVENTS, NATIVE
    path_events = MappingProxyType(dict(PATH_EVENTS))

    def denied(event: str, args) -> str | None:
        if event in process_events:
            return "new processes"
        if event in object_events:
            return "the list of live objects"
        if event == "ctypes.dlsym":
            name = args[1] if isinstance(args[1], str) else ""
            return "native functions" if name in native or name.startswith(("Py", "_Py")) else None
        if event not in path_events:
            return None
        if patched():
            return "paths, now that os functions were replaced"
        for arg in args[:path_events[event]]:
            reason = path_denied(event, arg)
            if reason:
                return reason
        return None

    return denied
