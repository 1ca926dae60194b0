"""Test-session settings shared by unit tests and notebook runs: fast mode, headless plots, and a
data cache that holds real data, as on a grading server that an instructor has seeded."""
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Notebooks executed by nbval inherit this environment: fast mode and a headless backend.
os.environ.setdefault("AE_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# As in an activated environment: tools installed with the packages (nbgrader's alembic) are found.
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")


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
