"""The runtime's docstrings as reStructuredText, for the API page (an autodoc hook of ``conf.py``).

``ae_helpers`` documents arguments as lines ``name: what it is`` whose continuation lines are
indented::

    data, val_data: a tensor (N, ...) or tuple of tensors sharing N.
        They are moved to the device once.
    step(model, batch): returns a scalar loss tensor.

Read as reStructuredText, such a line and its indented continuation become a definition list
that ends without a blank line, and docutils warns. :func:`as_rst` turns each such entry into
an item of a bullet list (``- **data, val_data**: a tensor …``), continuation lines joined to
it, with the blank lines the list needs around it. Two plain-text habits that reStructuredText
misreads are kept as written: ``|x|`` (an absolute value, not a substitution) and a literal
followed by a letter or a sign, as in ````oversample``²``. Everything else is left as it is.
"""
from __future__ import annotations

import re
import unicodedata

#: ``name: text`` at the margin: names (a call like ``step(model, batch)`` included) separated
#: by commas or slashes, then ": ".
NAME = r"[A-Za-z_]\w*(?:\([\w, ]*\))?"
ENTRY = re.compile(rf"^(?P<names>{NAME}(?:\s*[,/]\s*{NAME})*): (?P<rest>.*)$")
#: An inline literal, ````code````.
LITERAL = re.compile(r"(``.+?``)")


def _plain(line: str) -> str:
    """``line`` with ``|`` escaped outside literals, and an escaped space (nothing, rendered)
    after a literal that a letter, digit or sign follows (docutils wants a space or punctuation)."""
    parts = LITERAL.split(line)
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("|", "\\|")
    for i in range(1, len(parts) - 1, 2):
        after = parts[i + 1][:1]
        if after and not after.isspace() and not unicodedata.category(after).startswith("P") and after not in "\\/<>":
            parts[i] += "\\ "
    return "".join(parts)


def _indented(line: str) -> bool:
    return line[:1].isspace() and bool(line.strip())


def as_rst(lines: list[str]) -> list[str]:
    """``lines`` of a docstring (dedented, as autodoc passes them) with every argument entry after
    the summary paragraph made a bullet item: a ``name: text`` line that starts a paragraph,
    follows another entry or has an indented continuation (one in the middle of a paragraph
    stays prose). A literal block (after ``::``) is left alone."""
    out: list[str] = []
    in_list, summary, literal = False, True, False
    for i, line in enumerate(lines):
        summary = summary and bool(line.strip())
        literal = literal and (_indented(line) or not line.strip())
        if literal:
            out.append(line)
            continue
        line = _plain(line)
        if summary:
            out.append(line)
            continue
        entry = ENTRY.match(line)
        continued = i + 1 < len(lines) and _indented(lines[i + 1])
        if entry and (in_list or not (out and out[-1].strip()) or continued):
            if out and out[-1].strip() and not in_list:
                out.append("")
            out.append(f"- **{entry['names']}**: {entry['rest']}")
            in_list = True
        elif in_list and _indented(line):
            out.append("  " + line.strip())
        else:
            if in_list and line.strip():
                out.append("")
            in_list = False
            out.append(line)
        literal = line.rstrip().endswith("::")
    return out


def process(app, what, name, obj, options, lines: list[str]) -> None:
    """Sphinx's ``autodoc-process-docstring`` handler: rewrites ``lines`` in place."""
    lines[:] = as_rst(lines)
