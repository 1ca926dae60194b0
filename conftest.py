"""Test-session settings shared by unit tests and notebook runs: fast mode, headless plots."""
import os
import sys

# Notebooks executed by nbval inherit this environment: fast mode and a headless backend.
os.environ.setdefault("AE_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# As in an activated environment: tools installed with the packages (nbgrader's alembic) are found.
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

