"""Test-session settings shared by unit tests and notebook runs: fast mode, headless plots."""
import os

# Notebooks executed by nbval inherit this environment: fast mode and a headless backend.
os.environ.setdefault("AE_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
