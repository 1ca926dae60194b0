"""What a student reads: the stubs of the release, the task texts of the graded parts.

- every blank stub's error says what to write (the function, or else the part);
"""
from __future__ import annotations

import re

import nbformat
import pytest

from ae_helpers.course import ROOT
from ae_helpers.grading import named_stub
from nbgrader_harness import nbgrader_meta as meta

SLUGS = sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb"))


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


@pytest.mark.parametrize("slug", SLUGS)
def test_every_released_stub_says_what_to_write(slug):
    for cell in release(slug).cells:
        if cell.cell_type != "code" or not meta(cell).get("solution"):
            continue
        assert "NotImplementedError()" not in cell.source, f"{slug}: a bare stub in {meta(cell)['grade_id']}"
        defined = set(re.findall(r"def (\w+)\(", cell.source)) | {f"part '{meta(cell)['grade_id']}'"}
        for message in re.findall(r'NotImplementedError\("write ([^:]+):', cell.source):
            assert message in defined, f"{slug}: the stub of {meta(cell)['grade_id']} names {message!r}"
