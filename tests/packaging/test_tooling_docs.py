"""The instructor tooling (``ae_helpers/instructor/``) is documented and typed as the runtime is:
every public function, class and public method of a public class has a docstring and a type
hint on each argument and on its return (nbgrader overrides and the zygote's handlers too)."""
from __future__ import annotations

from pathlib import Path

import pytest

from documented import undocumented

TOOLING = Path(__file__).resolve().parents[2] / "ae_helpers" / "instructor"


@pytest.mark.parametrize("path", sorted(TOOLING.glob("*.py")), ids=lambda p: p.name)
def test_tooling_modules_document_and_type_every_public_definition(path):
    assert undocumented(path) == []
