"""ae_helpers.config: fast mode, the data folder, seeding, say_once."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from ae_helpers import config


# --------------------------------------------------------------------------- fast mode

@pytest.mark.parametrize("value", ["1", "true", "True", "TRUE", "yes", "on", " 1 ", "Yes\n"])
def test_fast_mode_on_for_true_values_of_AE_FAST(monkeypatch, value):
    monkeypatch.setenv("AE_FAST", value)
    assert config.fast_mode() is True


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "nope"])
def test_fast_mode_off_for_other_values_of_AE_FAST(monkeypatch, value):
    monkeypatch.setenv("AE_FAST", value)
    assert config.fast_mode() is False


def test_fast_mode_off_by_default():
    assert config.fast_mode() is False


def test_fast_fixture_switches_fast_mode(set_fast):
    set_fast(True)
    assert config.fast_mode() is True
    set_fast(False)
    assert config.fast_mode() is False


@pytest.mark.parametrize("value", ["autograde", "validate", "1"])
def test_fast_mode_on_while_nbgrader_executes(monkeypatch, value):
    monkeypatch.setenv("NBGRADER_EXECUTION", value)
    assert config.fast_mode() is True
    assert config.nbgrader_executing() is True


def test_nbgrader_is_not_executing_without_its_variable(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert config.nbgrader_executing() is False


def test_nbgrader_execution_wins_over_AE_FAST_0(monkeypatch):
    monkeypatch.setenv("AE_FAST", "0")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert config.fast_mode() is True


# --------------------------------------------------------------------------- data folder

def test_data_dir_from_AE_DATA_DIR_is_created(monkeypatch, tmp_path):
    target = tmp_path / "deep" / "cache"
    monkeypatch.setenv("AE_DATA_DIR", str(target))
    got = config.data_dir()
    assert Path(got) == target
    assert target.is_dir()


def test_data_dir_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AE_DATA_DIR", "~/course-data")
    assert Path(config.data_dir()) == tmp_path / "course-data"
    assert (tmp_path / "course-data").is_dir()


def test_data_dir_defaults_to_XDG_CACHE_HOME(monkeypatch, tmp_path):
    monkeypatch.delenv("AE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    got = Path(config.data_dir())
    assert got == tmp_path / "xdg" / "ae_course"
    assert got.is_dir()


def test_data_dir_defaults_to_home_cache_without_XDG(monkeypatch, tmp_path):
    monkeypatch.delenv("AE_DATA_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    got = Path(config.data_dir())
    assert got == tmp_path / ".cache" / "ae_course"
    assert got.is_dir()


# --------------------------------------------------------------------------- seeding

def _draw(generator: torch.Generator):
    return (random.random(), float(np.random.rand()), torch.rand(3).tolist(),
            torch.rand(3, generator=generator).tolist())


def test_set_seed_makes_python_numpy_and_torch_reproducible():
    first = _draw(config.set_seed(123))
    second = _draw(config.set_seed(123))
    assert first == second


def test_set_seed_returns_a_generator_with_that_seed():
    g = config.set_seed(7)
    assert isinstance(g, torch.Generator)
    assert g.initial_seed() == 7


def test_different_seeds_give_different_draws():
    a = _draw(config.set_seed(1))
    b = _draw(config.set_seed(2))
    for x, y in zip(a, b):      # every source of randomness is seeded, not only one
        assert x != y


def test_set_seed_accepts_seeds_beyond_numpy_range():
    first = _draw(config.set_seed(2**40 + 5))
    second = _draw(config.set_seed(2**40 + 5))
    assert first == second


# --------------------------------------------------------------------------- say_once

def test_say_once_prints_once_to_stdout(capfd):
    config.say_once("k", "hello there")
    config.say_once("k", "hello there")
    config.say_once("k", "something else")
    out, err = capfd.readouterr()
    assert out == "hello there\n"
    assert err == ""


def test_say_once_keys_are_independent(capsys):
    config.say_once("a", "first")
    config.say_once("b", "second")
    assert capsys.readouterr().out.splitlines() == ["first", "second"]
