"""The website's API page: what a notebook may call, as reStructuredText for Sphinx's autodoc.

The page is ``ae_helpers``' docstring (the table of its public surface), then every name of
``ae_helpers.__all__`` with its signature and docstring, then each of the modules a notebook
may use (``ae_helpers.MODULES``: checks, plot, models, sprites) with its public definitions.
The instructor tooling is not part of it; the page says where instructors find it.
"""
from __future__ import annotations

import inspect

import ae_helpers

NAME = "api"
TITLE = "API: what a notebook may call"


def _heading(text: str, underline: str) -> str:
    return f"{text}\n{underline * len(text)}\n"


def _directive(name: str) -> str:
    """The autodoc directive of ``ae_helpers.<name>``, a function or a class (with its members)."""
    obj = getattr(ae_helpers, name)
    if inspect.isclass(obj):
        return f".. autoclass:: ae_helpers.{name}\n   :members:\n"
    return f".. autofunction:: ae_helpers.{name}\n"


def _module(name: str) -> str:
    """A section for module ``ae_helpers.<name>``: its docstring and its public definitions
    (its ``__all__`` where it has one; classes with their members), in source order."""
    return (_heading(f"``ae_helpers.{name}``", "~")
            + f"\n.. automodule:: ae_helpers.{name}\n   :members:\n   :member-order: bysource\n")


def page() -> str:
    """The reStructuredText source of the page (``api.rst``)."""
    functions = [n for n in ae_helpers.__all__ if n not in ae_helpers.MODULES]
    return "\n".join([
        _heading(TITLE, "="),
        ".. automodule:: ae_helpers\n",
        "The instructors' grading and course tooling (the ``ae-course`` command) is not part of "
        "what a notebook may call: instructors find it in ``INSTRUCTORS.md`` of the repository.\n",
        _heading("Names", "-"),
        *(_directive(n) for n in functions),
        _heading("Modules", "-"),
        *(_module(n) for n in ae_helpers.MODULES),
    ])
