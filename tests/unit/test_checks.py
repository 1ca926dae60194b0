"""ae_helpers.checks: quiet on good input; on bad input an AssertionError that says what was
expected, what came, and what to try; output only on stdout (nbgrader zeroes stderr)."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from ae_helpers import checks
from ae_helpers.checks import CheckError
from ae_helpers.train import History


def assert_helpful(message: str) -> None:
    """A failure message names what was expected, what came, and gives a hint."""
    assert "expected" in message, message
    assert "got" in message, message
    assert "Hint:" in message, f"no hint in: {message!r}"
    hint = message.split("Hint:", 1)[1].strip()
    assert len(hint) > 10, f"empty hint in: {message!r}"


def fails(call, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        call(*args, **kwargs)
    assert isinstance(info.value, CheckError)
    return str(info.value)


@pytest.fixture
def quiet_stderr(capfd):
    """Every test in this module checks that nothing reached stderr."""
    yield capfd
    assert capfd.readouterr().err == ""


pytestmark = pytest.mark.usefixtures("quiet_stderr")


def test_check_error_is_an_assertion_error():
    assert issubclass(CheckError, AssertionError)


# --------------------------------------------------------------------------- shape

def test_check_shape_passes_and_prints_ok_on_stdout(capfd):
    checks.check_shape(torch.zeros(3, 4), (3, 4), name="codes")
    checks.check_shape(np.zeros((2, 5)), (None, 5), name="array")
    out, err = capfd.readouterr()
    assert out.splitlines() == ["ok: codes has shape (3, 4)", "ok: array has shape (2, 5)"]
    assert err == ""


def test_check_shape_verbose_false_is_silent(capfd):
    checks.check_shape(torch.zeros(3), (3,), verbose=False)
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize("value, shape", [
    (torch.zeros(3, 4), (4, 3)), (torch.zeros(3, 4), (3, 4, 1)), (torch.zeros(3, 4), (None, 5))])
def test_check_shape_fails_with_expected_got_and_hint(value, shape):
    message = fails(checks.check_shape, value, shape, name="codes")
    assert "codes" in message and str(tuple(value.shape)) in message
    assert_helpful(message)


def test_check_shape_passes_a_custom_hint():
    message = fails(checks.check_shape, torch.zeros(2), (3,), hint="use the latent size k")
    assert "use the latent size k" in message


@pytest.mark.parametrize("value", [None, [1.0, 2.0], "abc"])
def test_checks_reject_what_is_not_a_tensor(value):
    message = fails(checks.check_shape, value, (2,), name="result")
    assert type(value).__name__ in message
    assert_helpful(message)


# --------------------------------------------------------------------------- dtype

def test_check_dtype_passes():
    checks.check_dtype(torch.zeros(2), torch.float32)
    checks.check_dtype(torch.zeros(2, dtype=torch.float64), "float")
    checks.check_dtype(torch.zeros(2, dtype=torch.int64), torch.int64)


@pytest.mark.parametrize("value, dtype", [
    (torch.zeros(2, dtype=torch.int64), torch.float32), (torch.zeros(2, dtype=torch.int64), "float"),
    (torch.zeros(2, dtype=torch.float64), torch.float32)])
def test_check_dtype_fails_with_expected_got_and_hint(value, dtype):
    message = fails(checks.check_dtype, value, dtype)
    assert str(value.dtype) in message
    assert_helpful(message)


# --------------------------------------------------------------------------- finite

def test_check_finite_passes():
    checks.check_finite(torch.randn(4, 4))
    checks.check_finite(torch.tensor(3.0))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_check_finite_fails_naming_where(bad):
    x = torch.zeros(3, 4)
    x[1, 2] = bad
    x[2, 0] = bad
    message = fails(checks.check_finite, x, name="loss terms")
    assert "loss terms" in message and "2 " in message and "(1, 2)" in message
    assert_helpful(message)


def test_check_finite_fails_on_a_scalar():
    assert_helpful(fails(checks.check_finite, torch.tensor(float("nan"))))


# --------------------------------------------------------------------------- close

def test_check_close_passes_within_tolerance():
    checks.check_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-6]))
    checks.check_close(np.array([[0.5]]), torch.tensor([[0.5]]))
    checks.check_close(torch.tensor(1000.0), torch.tensor(1000.05), rtol=1e-4)


def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


def test_check_close_reports_the_largest_error_and_its_index():
    expected = torch.zeros(3, 4)
    got = expected.clone()
    got[0, 1] = 0.1
    got[2, 3] = -0.75                       # the largest error
    got[1, 0] = 0.3
    message = fails(checks.check_close, got, expected, name="decoder output")
    assert "decoder output" in message
    assert "(2, 3)" in message
    assert "0.75" in message and "-0.75" in message
    assert "3 of 12" in message
    assert_helpful(message)


def test_check_close_largest_error_is_at_the_reported_index():
    """With rtol, the entry farthest beyond tolerance need not have the largest error; the
    message must not pair one entry's index and values with another entry's error."""
    expected = torch.tensor([1000.0, 0.0])
    got = torch.tensor([1000.05, 0.01])     # entry 0 is within tolerance, entry 1 is not
    message = fails(checks.check_close, got, expected, atol=1e-5, rtol=1e-4)
    assert "(1,)" in message, message
    largest = re.search(r"largest error ([0-9.e+-]+)", message)
    assert largest is not None, message
    assert float(largest.group(1)) == pytest.approx(0.01, rel=1e-2), message


def test_check_close_fails_on_wrong_shape():
    message = fails(checks.check_close, torch.zeros(2, 3), torch.zeros(3, 2))
    assert "(3, 2)" in message and "(2, 3)" in message
    assert_helpful(message)


def test_check_close_fails_on_nan():
    message = fails(checks.check_close, torch.tensor([float("nan"), 0.0]), torch.zeros(2))
    assert "finite" in message
    assert_helpful(message)


# --------------------------------------------------------------------------- scalar, between

@pytest.mark.parametrize("value", [3, 2.5, np.float32(1.5), torch.tensor(4.0), torch.tensor([7.0])])
def test_check_scalar_passes_and_returns_the_number(value):
    assert checks.check_scalar(value) == pytest.approx(float(np.asarray(value).reshape(-1)[0]))


@pytest.mark.parametrize("value", [torch.zeros(3), np.zeros((2, 2)), None, [1.0]])
def test_check_scalar_fails(value):
    assert_helpful(fails(checks.check_scalar, value, name="the KL term"))


def test_check_between_passes_and_fails():
    assert checks.check_between(torch.tensor(0.5), 0.0, 1.0) is None   # a number would be partial credit
    message = fails(checks.check_between, 1.5, 0.0, 1.0, name="accuracy")
    assert "accuracy" in message and "1.5" in message and "[0, 1]" in message
    assert_helpful(message)


# --------------------------------------------------------------------------- gradients

def _model_and_x():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)), torch.randn(5, 4)


def test_check_grads_passes_when_every_parameter_gets_a_gradient():
    model, x = _model_and_x()
    model(x).pow(2).sum().backward()
    checks.check_grads(model)
    checks.check_grads(list(model.parameters()), name="the list")


def test_check_grads_catches_a_detached_parameter():
    model, x = _model_and_x()
    model[2](model[1](model[0](x)).detach()).pow(2).sum().backward()
    message = fails(checks.check_grads, model, name="the encoder")
    assert "0.weight" in message and "None" in message and "the encoder" in message
    assert_helpful(message)


def test_check_grads_catches_a_parameter_never_used():
    model, x = _model_and_x()
    model.register_parameter("spare", nn.Parameter(torch.ones(2)))   # forward never uses it
    model(x).pow(2).sum().backward()
    message = fails(checks.check_grads, model)
    assert "spare" in message
    assert_helpful(message)


def test_check_grads_catches_all_zero_gradients():
    model, x = _model_and_x()
    (model(x) * 0.0).sum().backward()
    message = fails(checks.check_grads, model)
    assert "zero" in message
    assert_helpful(message)


def test_check_grads_catches_non_finite_gradients():
    model, x = _model_and_x()
    (model(x).sum() * float("nan")).backward()
    message = fails(checks.check_grads, model)
    assert "NaN" in message or "finite" in message
    assert_helpful(message)


def test_check_grads_fails_without_parameters():
    assert_helpful(fails(checks.check_grads, nn.ReLU()))


# --------------------------------------------------------------------------- decreasing

def test_check_decreasing_on_a_list(capfd):
    checks.check_decreasing([1.0, 0.8, 0.9, 0.5])
    assert capfd.readouterr().out.startswith("ok:")
    message = fails(checks.check_decreasing, [1.0, 0.5, 1.2])
    assert "1 → 1.2" in message
    assert_helpful(message)


def test_check_decreasing_with_a_factor():
    checks.check_decreasing([1.0, 0.4], factor=0.5)
    message = fails(checks.check_decreasing, [1.0, 0.6], factor=0.5)
    assert "0.5" in message
    assert_helpful(message)


def test_check_decreasing_on_a_history():
    h = History(train={"loss": [2.0, 1.0, 0.5]}, val={"loss": [3.0, 3.5, 4.0]}, seconds=[0.1] * 3)
    checks.check_decreasing(h)
    up = History(train={"loss": [0.5, 1.0, 2.0]}, val={"loss": [3.0, 2.0, 1.0]}, seconds=[0.1] * 3)
    message = fails(checks.check_decreasing, up)
    assert_helpful(message)


def test_check_decreasing_needs_two_values():
    message = fails(checks.check_decreasing, [1.0])
    assert_helpful(message)


# --------------------------------------------------------------------------- streams

def test_checks_write_only_to_stdout(capfd):
    model, x = _model_and_x()
    model(x).pow(2).sum().backward()
    checks.check_shape(torch.zeros(2), (2,))
    checks.check_dtype(torch.zeros(2), "float")
    checks.check_finite(torch.zeros(2))
    checks.check_close(torch.zeros(2), torch.zeros(2))
    checks.check_scalar(1.0)
    checks.check_between(0.5, 0, 1)
    checks.check_grads(model)
    checks.check_decreasing([2.0, 1.0])
    for call, args in [(checks.check_shape, (torch.zeros(2), (3,))),
                       (checks.check_close, (torch.ones(2), torch.zeros(2))),
                       (checks.check_decreasing, ([1.0, 2.0],))]:
        with pytest.raises(CheckError):
            call(*args)
    out, err = capfd.readouterr()
    assert len(out.splitlines()) == 8 and all(line.startswith("ok: ") for line in out.splitlines())
    assert err == ""


class _Impostor:
    """Claims to be a tensor and answers every torch function with itself."""
    __class__ = property(lambda self: torch.Tensor)
    shape = (3,)

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __float__(self):
        return 0.0

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return _Impostor()


class _SneakyTensor(torch.Tensor):
    """A real tensor subclass whose torch functions all claim success."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.zeros(())


@pytest.mark.parametrize("check", [
    lambda v: checks.check_close(v, torch.ones(3)),
    lambda v: checks.check_shape(v, (3,)),
    lambda v: checks.check_scalar(v),
    lambda v: checks.check_finite(v),
])
def test_an_object_faking_a_tensor_fails_every_check(check):
    assert isinstance(_Impostor(), torch.Tensor)            # what it fools
    with pytest.raises(checks.CheckError):
        check(_Impostor())


def test_a_tensor_subclass_is_compared_by_its_data():
    sneaky = torch.zeros(3).as_subclass(_SneakyTensor)
    with pytest.raises(checks.CheckError):
        checks.check_close(sneaky, torch.ones(3))
    checks.check_close(torch.ones(3).as_subclass(_SneakyTensor), torch.ones(3))


def test_needs_names_the_part_to_solve_first(monkeypatch):
    import __main__
    monkeypatch.setattr(__main__, "history", [1.0], raising=False)
    checks.needs("history", part="2 (train)")                    # defined: quiet
    monkeypatch.delattr(__main__, "history")
    with pytest.raises(CheckError, match=r"history is not defined yet: solve part 2 \(train\) first"):
        checks.needs("history", part="2 (train)")
    with pytest.raises(CheckError, match="codes, history are not defined"):
        checks.needs("codes", "history", part="3")
