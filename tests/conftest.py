"""Shared fixtures: every test runs in a known, hermetic environment.

Autouse (every test):
- ``MPLBACKEND=Agg`` so that plots work headless;
- ``NBGRADER_EXECUTION`` unset (a test that wants it sets it with ``monkeypatch``);
- the memory of ``config.say_once`` emptied, so "says so once" is observable in each test.

Autouse for unit tests (not for tests marked ``notebooks`` or ``grading``, which must see
the caller's data cache and ``AE_FAST``):
- ``AE_DATA_DIR`` points to a fresh temporary folder;
- ``AE_FAST`` is unset (full mode) unless a test asks for the ``fast`` fixture;
- the downloaders in ``ae_helpers.data.FETCHERS`` are replaced by stubs that fail like an
  offline machine (``URLError``), so no unit test ever touches the network.
"""
from __future__ import annotations

import socket
import urllib.error

import pytest

from ae_helpers import config
from ae_helpers import data as ae_data

#: The real downloaders, captured before any test replaces them.
REAL_FETCHERS = dict(ae_data.FETCHERS)


def _offline_fetcher(name):
    def fetch(home):
        raise urllib.error.URLError(f"network disabled in unit tests (fetching {name!r})")
    return fetch


def _hermetic(request) -> bool:
    return not (request.node.get_closest_marker("notebooks")
                or request.node.get_closest_marker("grading"))


@pytest.fixture(autouse=True)
def ae_env(request, monkeypatch, tmp_path):
    """Known environment for every test; returns the data folder (or None when not hermetic)."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setattr(config, "_said", set())
    if not _hermetic(request):
        yield None
        return
    folder = tmp_path / "ae_data"
    monkeypatch.setenv("AE_DATA_DIR", str(folder))
    monkeypatch.delenv("AE_FAST", raising=False)
    for name in list(ae_data.FETCHERS):
        monkeypatch.setitem(ae_data.FETCHERS, name, _offline_fetcher(name))
    yield folder


@pytest.fixture
def data_folder(ae_env):
    """The temporary ``AE_DATA_DIR`` of this test."""
    assert ae_env is not None, "data_folder is for unit tests only"
    return ae_env


@pytest.fixture
def set_fast(monkeypatch):
    """A function that switches fast mode on or off through ``AE_FAST``."""
    def switch(on: bool = True) -> None:
        monkeypatch.setenv("AE_FAST", "1" if on else "0")
    return switch


@pytest.fixture
def fast(set_fast):
    """Fast mode on (``AE_FAST=1``) for this test."""
    set_fast(True)


@pytest.fixture
def cut_network(monkeypatch):
    """Restore the real downloaders, but with the network cut at the socket level.

    Name resolution fails like on a machine without a connection, and sleeping between
    download retries is skipped so that the test stays fast.
    """
    def no_network(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "network cut by the test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    import time
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    for name, fetch in REAL_FETCHERS.items():
        monkeypatch.setitem(ae_data.FETCHERS, name, fetch)


@pytest.fixture(scope="module")
def fast_module_env(tmp_path_factory):
    """For module-scoped fixtures that train once: fast mode, an empty data folder (so nothing
    is downloaded), no nbgrader flag, and seed 0, for as long as the module's tests run."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AE_FAST", "1")
        mp.setenv("AE_DATA_DIR", str(tmp_path_factory.mktemp("ae_data")))
        mp.delenv("NBGRADER_EXECUTION", raising=False)
        config.set_seed(0)
        yield
