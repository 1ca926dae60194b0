"""ae_helpers.claims: a claim prints its number beside its bound, fails loudly only under test."""
import math

import pytest
import torch

from ae_helpers import claims
from ae_helpers.claims import ClaimError, claim


def test_a_claim_that_holds_prints_number_and_bound(capsys, monkeypatch):
    monkeypatch.setenv(claims.STRICT_ENV, "strict")
    assert claim("AE / PCA at d = 4", torch.tensor(0.684), below=0.9) is True
    assert capsys.readouterr().out == "claim holds: AE / PCA at d = 4 = 0.684 (< 0.9)\n"


def test_a_failed_claim_says_so_and_what_to_look_for_without_stopping_a_student(capsys, monkeypatch):
    monkeypatch.delenv(claims.STRICT_ENV, raising=False)
    assert claim("AUC", 0.42, above=0.5, if_not="Look at the ROC curve.") is False
    out = capsys.readouterr().out
    assert out.startswith("claim does NOT hold on this run: AUC = 0.42 (> 0.5)") and "ROC curve" in out


def test_strict_mode_raises_on_a_failed_claim(monkeypatch):
    monkeypatch.setenv(claims.STRICT_ENV, "strict")
    with pytest.raises(ClaimError, match="AUC = 0.42"):
        claim("AUC", 0.42, above=0.5)


@pytest.mark.parametrize("value, kwargs, holds", [
    (0.5, {"below": 0.5}, False),              # bounds are strict
    (0.5, {"above": 0.5}, False),
    (0.6, {"above": 0.5, "below": 0.7}, True),
    (0.8, {"above": 0.5, "below": 0.7}, False),
    (math.nan, {"below": 1.0}, False),         # NaN never holds
    (True, {}, True),
    (False, {}, False),
])
def test_bounds(value, kwargs, holds, monkeypatch):
    monkeypatch.delenv(claims.STRICT_ENV, raising=False)
    assert claim("x", value, **kwargs) is holds


def test_every_claim_is_logged_for_the_tests(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(claims.LOG_ENV, str(log))
    monkeypatch.delenv(claims.STRICT_ENV, raising=False)
    claim("ratio", 0.7, below=0.9)
    claim("every draw better", False)
    assert claims.read_log(log) == [
        {"what": "ratio", "value": 0.7, "bound": "< 0.9", "holds": True},
        {"what": "every draw better", "value": False, "bound": "", "holds": False},
    ]


def test_a_value_that_is_no_number_is_refused():
    with pytest.raises(TypeError, match="number or a bool"):
        claim("x", "0.5", below=1)
