"""A graded answer must not stand, nearly verbatim, in the lecture beside it or in ae_helpers.

Each solution region of a graded code cell (``### BEGIN SOLUTION`` … ``### END SOLUTION``) is
compared with every function and every top-level block of the lectures' code cells and with
every function of the package, as normalised token sequences: comments and docstrings dropped,
every name that is not a keyword, a builtin, a module (torch, nn, F, np …) or an attribute
replaced by ``ID``, numbers by ``NUM`` and strings by ``STR``. Renaming variables, reordering
keyword arguments a little or changing constants cannot hide a copy.

``SIMILAR`` = 0.87: the ratio of ``difflib.SequenceMatcher`` (2·matches / total tokens) from
which two pieces count as the same code; ``MIN_TOKENS`` = 15: shorter answers (one line such as
``return x.mean()``) are too short to be told apart from any other code and are not compared.
The threshold lies between the copies the course had (``tests/fixtures/known_copies``: the
answers of December 2026 beside the lecture code they copied, 0.92 to 1.0) and the closest
honest pairs (a training step or a ``fit`` call shaped like the lecture's, 0.84), and
``test_the_known_copies_are_caught_and_the_honest_pairs_are_not`` keeps it there.
Also, no graded answer may call the package's model builders (``ae_helpers.models``): an
answer that is two calls of ``mlp`` is the package's code, not the student's.
"""
from __future__ import annotations

import ast
import builtins
import difflib
import io
import keyword
import re
import textwrap
import tokenize

import nbformat
import pytest

from ae_helpers.instructor.course import CHAPTERS, ROOT
from nbgrader_harness import nbgrader_meta as meta

SIMILAR = 0.87
MIN_TOKENS = 15
KEPT_NAMES = set(dir(builtins)) | {"torch", "nn", "F", "np", "numpy", "math", "self", "cls"}


def normalised(code: str) -> list[str]:
    """The token sequence of ``code`` with local names, numbers and strings made anonymous."""
    out: list[str] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(textwrap.dedent(code)).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return out
    previous = None
    for tok in tokens:
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                        tokenize.DEDENT, tokenize.ENDMARKER):
            if tok.type == tokenize.NEWLINE:
                previous = None
            continue
        if tok.type == tokenize.STRING:
            if previous is None:             # a string that is a whole statement: a docstring
                continue
            out.append("STR")
        elif tok.type == tokenize.NUMBER:
            out.append("NUM")
        elif tok.type == tokenize.NAME:
            attribute = bool(out) and out[-1] == "."
            out.append(tok.string if keyword.iskeyword(tok.string) or attribute or tok.string in KEPT_NAMES
                       else "ID")
        else:
            out.append(tok.string)
        previous = tok
    return out


def solution_regions(nb) -> list[tuple[str, str]]:
    """(grade_id, code) of each solution region of the graded code cells of ``nb``."""
    out = []
    for cell in nb.cells:
        if cell.cell_type == "code" and meta(cell).get("solution"):
            for region in re.findall(r"### BEGIN SOLUTION\n(.*?)\n[ \t]*### END SOLUTION", cell.source, re.S):
                out.append((meta(cell)["grade_id"], region))
    return out


def pieces(code: str) -> list[str]:
    """The functions (at any depth) of ``code`` and its top-level statements outside them."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return [code]
    functions = [ast.get_source_segment(code, n) for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    rest = [ast.get_source_segment(code, n) for n in tree.body
            if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return [p for p in functions + ["\n".join(rest)] if p]


def function_bodies(code: str) -> list[str]:
    """Each function of ``code`` without its ``def`` line, as a solution region stands."""
    out = []
    for piece in pieces(code):
        if piece.lstrip().startswith(("def ", "async def ")):
            tree = ast.parse(textwrap.dedent(piece)).body[0]
            out.append("\n".join(ast.get_source_segment(textwrap.dedent(piece), n) for n in tree.body))
        out.append(piece)
    return out


def corpus(lectures: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(where, tokens) of every piece of lecture and package code an answer must not copy."""
    out = []
    for name, code in lectures.items():
        for piece in function_bodies(code):
            out.append((name, normalised(piece)))
    for path in sorted((ROOT / "ae_helpers").glob("*.py")):
        for piece in function_bodies(path.read_text()):
            out.append((f"ae_helpers/{path.name}", normalised(piece)))
    return [(w, t) for w, t in out if len(t) >= MIN_TOKENS // 2]


def lecture_code(read=lambda p: p.read_text()) -> dict[str, str]:
    """lecture file name + cell index → code of that cell."""
    out = {}
    for path in sorted((ROOT / "lectures").glob("*.ipynb")):
        nb = nbformat.reads(read(path), as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                out[f"{path.name} cell {i}"] = "\n".join(l for l in cell.source.splitlines()
                                                         if not l.lstrip().startswith(("%", "!")))
    return out


def similarity(a: list[str], b: list[str]) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def copies(regions: list[tuple[str, str]], where: list[tuple[str, list[str]]]) -> list[tuple[float, str, str]]:
    """(ratio, grade_id, where) of each answer at least ``SIMILAR`` alike to a piece of ``where``."""
    found = []
    for gid, code in regions:
        tokens = normalised(code)
        if len(tokens) < MIN_TOKENS:
            continue
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(tokens)
        for w, t in where:
            matcher.set_seq1(t)
            if matcher.real_quick_ratio() >= SIMILAR and matcher.quick_ratio() >= SIMILAR:
                ratio = matcher.ratio()
                if ratio >= SIMILAR:
                    found.append((round(ratio, 3), gid, w))
    return found


@pytest.fixture(scope="module")
def where():
    return corpus(lecture_code())


def test_normalising_hides_names_comments_and_docstrings():
    a = 'def f(x, k):\n    """Doc."""\n    m = x.mean(0)  # centre\n    return (x - m)[:k]\n'
    b = "def g(data, n):\n    centre = data.mean(1)\n    return (data - centre)[:n]\n"
    assert normalised(a) == normalised(b)
    assert normalised("y = torch.relu(x)") != normalised("y = torch.sigmoid(x)")


def test_a_renamed_copy_is_caught_and_other_code_is_not():
    lecture = {"l cell 1": "def recon(model, x):\n    out = model(x)\n    err = ((out - x) ** 2).sum(dim=1)\n"
                           "    return err.mean()\n\nprint(recon(m, x))\n"}
    copied = [("part", "prediction = net(images)\nper_image = ((prediction - images) ** 2).sum(dim=1)\n"
                       "return per_image.mean()")]
    other = [("part", "codes = net.encoder(images)\nnorms = torch.linalg.norm(codes, dim=1)\n"
                      "return norms.argsort(descending=True)[:k]")]
    assert copies(copied, corpus(lecture)) and not copies(other, corpus(lecture))


KNOWN = ROOT / "tests" / "fixtures" / "known_copies"


@pytest.mark.parametrize("name", sorted(p.name.split(".")[0] for p in KNOWN.glob("*.answer.py")))
def test_the_known_copies_are_caught_and_the_honest_pairs_are_not(name):
    answer = (KNOWN / f"{name}.answer.py").read_text()
    lecture = {f"{name}.lecture.py": (KNOWN / f"{name}.lecture.py").read_text()}
    found = copies([(name, answer)], [(w, t) for w, t in corpus(lecture) if not w.startswith("ae_helpers")])
    assert bool(found) is name.startswith("copy--"), f"{name}: {found or 'not caught'}"


@pytest.mark.parametrize("slug", CHAPTERS)
def test_no_graded_answer_stands_in_a_lecture_or_the_package(slug, where):
    nb = nbformat.read(ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4)
    found = copies(solution_regions(nb), where)
    assert not found, (f"{slug}: graded answers nearly verbatim in the lectures or ae_helpers "
                       f"(ratio ≥ {SIMILAR}): {found}")


@pytest.mark.parametrize("slug", CHAPTERS)
def test_no_graded_answer_calls_the_package_model_builders(slug):
    nb = nbformat.read(ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4)
    builders = {n for n in dir(__import__("ae_helpers.models", fromlist=["x"])) if not n.startswith("_")}
    for gid, code in solution_regions(nb):
        called = set(re.findall(r"(?<![\w.])(\w+)\s*\(", code)) | set(re.findall(r"models\.(\w+)\s*\(", code))
        used = sorted(called & builders - {"nn", "torch"})
        assert "ae_helpers.models" not in code and not [u for u in used if u[0].islower()], (
            f"{slug}: the answer of {gid} calls the package's model builders {used}: write the network")
