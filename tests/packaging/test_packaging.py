"""environment.yml and pyproject.toml describe the same environment.

PyYAML is not a dependency of the course, so environment.yml is read by the small parser
below (enough for a conda file: a ``dependencies:`` list with one nested ``pip:`` list); when
PyYAML happens to be installed, a test checks that both readers agree.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"

#: conda-forge names whose PyPI name differs.
CONDA_TO_PIP = {"pytorch": "torch"}
#: conda entries that are tooling, not packages of the project.
CONDA_TOOLING = {"python", "pip"}

_SPEC = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*$")


def _strip_comment(line: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", line).rstrip()


def parse_environment(text: str) -> dict:
    """{'name': str, 'channels': [...], 'dependencies': [str | {'pip': [...]}]}, for the
    subset of YAML a conda environment file uses."""
    result: dict = {}
    key = None           # top-level key whose list we are reading
    nested = None        # the list of a nested mapping item such as "- pip:"
    nested_indent = -1
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if indent == 0:
            nested = None
            name, _, value = body.partition(":")
            key = name.strip()
            value = value.strip()
            result[key] = value if value else []
            continue
        if not body.startswith("- "):
            raise ValueError(f"unsupported line in environment file: {raw!r}")
        item = body[2:].strip()
        if nested is not None and indent > nested_indent:
            nested.append(item)
            continue
        nested = None
        if item.endswith(":"):
            nested = []
            nested_indent = indent
            result[key].append({item[:-1].strip(): nested})
        else:
            result[key].append(item)
    return result


def conda_specs(env: dict) -> dict[str, str]:
    """Canonical pip name → version spec, for every conda package entry."""
    specs = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            continue
        name, spec = _SPEC.match(entry).groups()
        specs[canonicalize_name(CONDA_TO_PIP.get(name.lower(), name))] = spec
    return specs


def pip_entries(env: dict) -> list[str]:
    for entry in env["dependencies"]:
        if isinstance(entry, dict) and "pip" in entry:
            return entry["pip"]
    return []


@pytest.fixture(scope="module")
def env() -> dict:
    return parse_environment(ENV_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def project() -> dict:
    with open(PYPROJECT, "rb") as f:
        return tomllib.load(f)["project"]


def pyproject_requirements(project) -> list[Requirement]:
    reqs = [Requirement(r) for r in project["dependencies"]]
    extras = project.get("optional-dependencies", {})
    for extra in ("instructor", "dev"):
        reqs += [Requirement(r) for r in extras.get(extra, []) if Requirement(r).name != project["name"]]
    return reqs


# --------------------------------------------------------------------------- the parser itself

def test_parser_reads_a_conda_file():
    text = """# comment
name: demo   # trailing comment
channels:
  - conda-forge
dependencies:
  - python=3.11
  - numpy>=1.24  # why
  - pip
  - pip:
      - -e .[dev]
      - extra-thing==1.0
"""
    assert parse_environment(text) == {
        "name": "demo", "channels": ["conda-forge"],
        "dependencies": ["python=3.11", "numpy>=1.24", "pip", {"pip": ["-e .[dev]", "extra-thing==1.0"]}]}


def test_parser_agrees_with_pyyaml_when_installed(env):
    yaml = pytest.importorskip("yaml")
    reference = yaml.safe_load(ENV_FILE.read_text(encoding="utf-8"))
    assert env == reference


# --------------------------------------------------------------------------- the two files agree

def test_conda_and_pip_name_the_same_packages(env, project):
    conda = set(conda_specs(env)) - CONDA_TOOLING
    pip = {canonicalize_name(r.name) for r in pyproject_requirements(project)}
    assert conda - pip == set(), "in environment.yml but not in pyproject.toml"
    assert pip - conda == set(), "in pyproject.toml but not in environment.yml"


def test_conda_pytorch_is_pip_torch(env, project):
    specs = conda_specs(env)
    assert "torch" in specs and "pytorch" not in specs
    assert "torch" in {canonicalize_name(r.name) for r in pyproject_requirements(project)}


def test_conda_and_pip_pin_the_same_versions(env, project):
    conda = conda_specs(env)
    for req in pyproject_requirements(project):
        name = canonicalize_name(req.name)
        assert SpecifierSet(conda[name]) == req.specifier, (
            f"{name}: environment.yml says {conda[name]!r}, pyproject.toml says {str(req.specifier)!r}")


def test_python_pin_satisfies_requires_python(env, project):
    python = conda_specs(env)["python"]
    match = re.fullmatch(r"=?=?\s*(\d+\.\d+)(?:\.\*)?", python)
    assert match, f"expected a python pin like python=3.11, got {python!r}"
    minor = match.group(1)
    requires = SpecifierSet(project["requires-python"])
    for patch in ("0", "99"):               # conda's "=3.11" means any 3.11.x
        assert requires.contains(f"{minor}.{patch}"), f"python {minor} vs requires-python {requires}"


def test_pip_section_installs_the_package_with_dev_extra(env):
    entries = pip_entries(env)
    installs = [e for e in entries if re.fullmatch(r"(-e\s+)?\.\[([^\]]*)\]", e)]
    assert installs, f"no '-e .[dev]' in the pip section: {entries}"
    extras = {x.strip() for x in re.fullmatch(r"(?:-e\s+)?\.\[([^\]]*)\]", installs[0]).group(1).split(",")}
    assert "dev" in extras


def test_pip_is_a_conda_dependency_when_there_is_a_pip_section(env):
    assert pip_entries(env)
    assert "pip" in conda_specs(env)


def test_pyproject_readme_exists(project):
    readme = project.get("readme")
    if isinstance(readme, dict):
        readme = readme.get("file")
    assert readme is None or (ROOT / readme).is_file(), f"pyproject.toml names a missing readme {readme!r}"


def test_the_installed_package_is_this_checkout(tmp_path):
    """`import ae_helpers` from outside the repository finds this checkout's regular package
    (a stale editable install made before __init__.py existed yields a namespace package)."""
    code = "import importlib.util as u; s = u.find_spec('ae_helpers'); print(s.origin)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == str(ROOT / "ae_helpers" / "__init__.py"), (
        f"outside the repository, ae_helpers resolves to {out!r}; reinstall with pip install -e '.[dev]'")
