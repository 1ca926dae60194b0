"""What a student reads: the stubs of the release, the task texts of the graded parts.

- every blank stub's error says what to write (the function, or else the part);
- every number a hidden test compares against is stated in the task text of its part
  (``hidden_bounds``: the rule, and what it leaves out);
- the introduction states the per-cell time limit that grading really applies.
"""
from __future__ import annotations

import ast
import re

import nbformat
import pytest

from ae_helpers.instructor.course import CHAPTERS, ROOT
from ae_helpers.instructor.preprocessors import named_stub
from nbgrader_harness import nbgrader_meta as meta



def release(slug: str):
    return nbformat.read(ROOT / "exercises" / slug / f"{slug}.ipynb", as_version=4)


# --------------------------------------------------------------------------- stubs

def test_a_stub_in_a_function_names_the_function():
    source = 'def pca_fit(x, k):\n    """doc"""\n    # YOUR CODE HERE\n    raise NotImplementedError()'
    stub = named_stub(source, "pca_fit_part")
    assert stub.splitlines()[:3] == source.splitlines()[:3]
    assert re.fullmatch(r'    raise NotImplementedError\("write pca_fit: .*"\)', stub.splitlines()[3])


def test_a_stub_at_module_level_names_the_part():
    stub = named_stub("# YOUR CODE HERE\nraise NotImplementedError()", "train_ae")
    assert stub.startswith("# YOUR CODE HERE\nraise NotImplementedError(\"write part 'train_ae': ")


def test_a_stub_in_a_method_names_the_method_not_the_class():
    stub = named_stub("class Encoder:\n    def forward(self, x):\n        raise NotImplementedError()", "enc")
    assert 'NotImplementedError("write forward: ' in stub


@pytest.mark.parametrize("slug", CHAPTERS)
def test_every_released_stub_says_what_to_write(slug):
    for cell in release(slug).cells:
        if cell.cell_type != "code" or not meta(cell).get("solution"):
            continue
        assert "NotImplementedError()" not in cell.source, f"{slug}: a bare stub in {meta(cell)['grade_id']}"
        defined = set(re.findall(r"def (\w+)\(", cell.source)) | {f"part '{meta(cell)['grade_id']}'"}
        for message in re.findall(r'NotImplementedError\("write ([^:]+):', cell.source):
            assert message in defined, f"{slug}: the stub of {meta(cell)['grade_id']} names {message!r}"


# --------------------------------------------------------------------------- graded criteria stated

ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def hidden_region(source: str) -> str:
    """The code between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` (dedented)."""
    import textwrap
    parts = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)\n[ \t]*### END HIDDEN TESTS", source, re.S)
    return "\n".join(textwrap.dedent(p) for p in parts)


def _numbers(node: ast.AST, constants: dict[str, float]) -> list[float]:
    """Numbers an operand of a comparison compares against: literals and names bound to a
    literal, through arithmetic and unary minus, but not inside calls, subscripts or
    attributes (``abs(x - 0.5) < 0.05`` compares against 0.05: 0.5 is the expected value)."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return [float(node.value)]
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if isinstance(node, ast.UnaryOp):
        return [-v if isinstance(node.op, ast.USub) else v for v in _numbers(node.operand, constants)]
    if isinstance(node, ast.BinOp):
        return _numbers(node.left, constants) + _numbers(node.right, constants)
    return []


def hidden_bounds(code: str) -> set[float]:
    """Every number that an ordering comparison (<, <=, >, >=) in ``code`` compares against,
    other than 0 and 1 and floating-point tolerances (|v| < 1e-3); names assigned a literal
    in ``code`` (``MARGIN = 0.05``) count as that literal."""
    tree = ast.parse(code)
    constants = {t.id: float(n.value.value) for n in ast.walk(tree) if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name)
                 and isinstance(n.value, ast.Constant) and type(n.value.value) in (int, float)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, ORDERING) for op in node.ops):
            for operand in [node.left, *node.comparators]:
                found.update(_numbers(operand, constants))
    return {abs(v) for v in found if abs(v) >= 1e-3 and abs(v) != 1.0}


def stated(value: float, text: str) -> bool:
    """``value`` is written in ``text``: with the same digits (trailing zeros free), or as a
    percentage (0.06 as "6 %", "6%")."""
    def spelled(v: float) -> list[str]:
        plain = f"{v:.6f}".rstrip("0").rstrip(".")
        return [plain, plain.lstrip("0") if plain.startswith("0.") else plain]
    forms = [rf"(?<![\d.]){re.escape(f)}(?:\.0+|(?<=\.\d)0*)?(?![\d])" for f in spelled(value)]
    forms += [rf"(?<![\d.]){re.escape(f)}\s?%" for f in spelled(value * 100)]
    return any(re.search(f, text) for f in forms)


def parts_of(nb) -> list[tuple[str, str, str]]:
    """(part, task text, hidden test code) of each graded code part, in notebook order. The task
    text is every markdown cell, but the students' answer cells, from after the previous part's
    solution cell up to this part's last test cell (one task cell may set two parts)."""
    cells = nb.cells
    parts = [(i, meta(c)["grade_id"]) for i, c in enumerate(cells)
             if c.cell_type == "code" and meta(c).get("solution")]
    out = []
    for k, (_, gid) in enumerate(parts):
        start = parts[k - 1][0] + 1 if k else 0
        tests = [i for i, c in enumerate(cells) if c.cell_type == "code" and meta(c).get("grade")
                 and meta(c).get("grade_id", "").startswith(f"test_{gid}")]
        if not tests:
            continue
        text = "\n".join(c.source for c in cells[start:tests[-1]]
                         if c.cell_type == "markdown" and not meta(c).get("solution"))
        hidden = "\n".join(hidden_region(cells[i].source) for i in tests)
        out.append((gid, text, hidden))
    return out


def solutions(slug: str):
    return nbformat.read(ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4)


def test_hidden_bounds_reads_comparisons_and_named_margins():
    code = ("MARGIN = 0.05\nassert abs(x - 0.5) < 0.02\nassert acc >= base + MARGIN - 1e-9\n"
            "assert db > 3.5 and 0.0 <= y <= 1.0\nassert err < 0.9 * ref\nassert len(h) >= 10\n"
            "assert f(2.5) == 7.5\nassert torch.allclose(a, b, atol=1e-5)\nassert z > -2.0")
    assert hidden_bounds(code) == {0.05, 0.02, 3.5, 0.9, 10.0, 2.0}


@pytest.mark.parametrize("value,text,expected", [
    (3.5, "at least 3.5 dB", True), (2.0, "2 dB on Gaussian noise", True), (2.0, "2.0 dB", True),
    (0.97, "an AUC above 0.97", True), (0.06, "within 6 % of σ", True), (0.5, "at most half", False),
    (0.6, "ratio ≤ 0.65", False), (10.0, "at least 10 epochs", True), (10.0, "100 epochs", False),
    (0.05, "by .05 or more", True), (0.02, "0.2", False)])
def test_stated_finds_a_number_in_its_usual_spellings(value, text, expected):
    assert stated(value, text) is expected


@pytest.mark.parametrize("slug", CHAPTERS)
def test_every_hidden_bound_is_stated_in_its_task(slug):
    """A hidden test may use fresh inputs, but never a criterion the task does not state."""
    missing = {gid: sorted(v for v in hidden_bounds(hidden) if not stated(v, text))
               for gid, text, hidden in parts_of(solutions(slug))}
    missing = {gid: values for gid, values in missing.items() if values}
    assert not missing, f"{slug}: hidden tests compare against numbers their task does not state: {missing}"


# --------------------------------------------------------------------------- time limit

def grading_time_limit() -> int:
    """``c.Execute.timeout`` of the course's nbgrader configuration, in seconds."""
    text = (ROOT / "nbgrader_config.py").read_text()
    return int(re.search(r"^c\.Execute\.timeout\s*=\s*(\d+)", text, re.M).group(1))


@pytest.mark.parametrize("slug", CHAPTERS)
def test_the_introduction_states_the_grading_time_limit(slug):
    """The task text says what the per-cell limit really is (not 'a few seconds')."""
    limit = grading_time_limit()
    intro = "\n".join(c.source for c in release(slug).cells[:4] if c.cell_type == "markdown")
    assert re.search(rf"(?<!\d){limit}\s?(s\b|seconds)", intro), (
        f"{slug}: the introduction does not state the per-cell time limit of grading ({limit} s)")
