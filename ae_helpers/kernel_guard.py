"""Kernel-side half of the grading guard (see ``ae_helpers.grading.GuardedExecute``).

While nbgrader executes a submission, the grader sends the source of this module into the
kernel once, before the first cell, and then calls ``restore()`` silently before every graded
test cell. ``restore`` undoes what a submission may have done to switch tests off:

- IPython hooks: input and AST transformers, a custom exception handler, event callbacks,
  methods patched onto the shell or the kernel object;
- attributes of the modules that tests compare with (``builtins``, ``math``, ``operator``,
  numpy, torch, ``ae_helpers.checks``) and the methods of ``torch.Tensor``;
- names that locked cells imported into the notebook's namespace (``check_close`` …), which
  ``record(names)`` notes after each locked cell.

Everything here runs inside the student's kernel, so it raises the bar rather than making
tampering impossible: graders who face determined attackers should also run autograde in a
container (INSTRUCTORS.md). The state lives in one object stored under a random name.
"""
from __future__ import annotations

import importlib
import sys

MODULES = ("builtins", "math", "operator", "numpy", "numpy.testing", "torch",
           "torch.nn.functional", "torch.testing", "ae_helpers.checks")


class Guard:
    """Snapshot of the kernel's grading-relevant state, taken before any student code runs."""

    def __init__(self, shell):
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

    def record(self, names) -> str:
        """Remember the current values of ``names`` in the user namespace (after a locked cell)."""
        ns = self.shell.user_ns
        self.names.update({n: ns[n] for n in names if n in ns})
        return "done"

    def restore(self) -> str:
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
