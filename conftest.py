"""Test-session settings shared by unit tests and notebook runs: fast mode, headless plots, and a
data cache that holds real data, as on a grading server that an instructor has seeded."""
import atexit
import collections
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# Notebooks executed by nbval inherit this environment: fast mode and a headless backend.
os.environ.setdefault("AE_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# As in an activated environment: tools installed with the packages (nbgrader's alembic) are found.
from ae_helpers.instructor.course import nbgrader_env  # noqa: E402

os.environ["PATH"] = nbgrader_env()["PATH"]


def _seeded_cache() -> str:
    """A data folder like a seeded grading server's: real Fashion-MNIST (also under the name
    'mnist', so that a real 28×28 set is cached there too) and Olivetti-shaped faces. Solution
    notebooks and every nbgrader round trip run with it, and graded exercises must not care."""
    sys.path.insert(0, str(Path(__file__).parent / "tests"))
    import lecture_runner
    folder = Path(tempfile.mkdtemp(prefix="ae_seeded_cache_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    lecture_runner.real_data_folder(folder)
    if lecture_runner.FASHION.exists():
        (folder / "mnist.npz").symlink_to(lecture_runner.FASHION.resolve())
    return str(folder)


# Tests that need another folder (unit tests, lecture runs) set their own.
os.environ["AE_DATA_DIR"] = _seeded_cache()


#: xdist groups that start first, slowest first (CI on 2 cores: chapter 09's fixtures took 462 s,
#: its round trip 146 s, chapter 06's fixtures 136 s); the other groups follow as xdist would
#: order them itself, most tests first. tests/packaging/test_xdist_groups.py checks the names.
START_FIRST = ("fixtures-09_jepa_embedding_prediction", "grading-09_jepa_embedding_prediction",
               "fixtures-06_vae_elbo")


def xdist_group(item) -> str:
    """The group xdist gives ``item`` under ``--dist loadgroup``: its ``xdist_group`` marks'
    names joined as xdist/remote.py joins them, or else its file (the node id before '::')."""
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")})
    return "_".join(names) or item.nodeid.split("::")[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """With ``--dist loadgroup`` a test without an ``xdist_group`` mark would be a work unit of
    its own; give it the group of its file instead, so that a file stays on one worker as under
    ``--dist loadscope`` (all cells of a solution notebook run in one kernel). Runs before xdist's
    own hook (xdist/remote.py), which appends the group to the node id that the scheduler
    splits. On an xdist worker, also order the groups: START_FIRST, then most tests first; with
    ``--no-loadscope-reorder`` the scheduler queues them in this order."""
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(xdist_group(item)))
    if getattr(config.option, "loadgroup", False):
        groups = [xdist_group(item) for item in items]
        size, first = collections.Counter(groups), {g: i for i, g in reversed(list(enumerate(groups)))}
        rank = {g: (START_FIRST.index(g) if g in START_FIRST else len(START_FIRST), -size[g], first[g])
                for g in size}
        items[:] = [item for _, item in sorted(zip(groups, items), key=lambda gi: rank[gi[0]])]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session):
    """xdist (3.8) groups a test by appending '@group' to a private node id attribute that
    pytest 9.2 no longer reads (pytest-xdist issue #1386): every test would silently be a work
    unit of its own. On a loadgroup worker, before it sends its node ids to the scheduler, append
    the group where it is missing, to the structured node id pytest 9.2 reads, and fail loudly
    if that does not take either."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    for item in session.items:
        suffix = "@" + xdist_group(item)
        if not item.nodeid.endswith(suffix):
            from _pytest.nodeid import NodeId     # pytest >= 9.2, where the suffix is missing
            item._id = NodeId.parse(item.nodeid + suffix)
        assert item.nodeid.endswith(suffix), f"cannot put {item.nodeid} in its xdist group"
