"""The course's layout and the parts every notebook shares (Colab badge, install block).

The repository address lives here and only here; ``ae-course sync``
rewrites every notebook's badge and install block from it, and
``tests/notebooks/test_notebook_template.py`` fails when a notebook has drifted.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping

if TYPE_CHECKING:                       # names for the hints only
    import subprocess

#: The course repository (GitHub owner/name) and branch that Colab installs from.
REPO = "ae-course/autoencoders-latent-spaces"
BRANCH = "main"

CHAPTERS = [
    "01_linear_ae_pca",
    "02_deep_autoencoders",
    "03_sparse_autoencoders",
    "04_denoising_autoencoders",
    "05_contractive_autoencoders",
    "06_vae_elbo",
    "07_beta_vae",
    "08_siamese_networks",
    "09_jepa_embedding_prediction",
    "10_sequence_autoencoders",
    "11_embeddings",
]

ROOT = Path(__file__).resolve().parents[2]
INSTALL_MARKER = "# --- course setup: installs the course package on Colab (kept in step by the tests) ---"
INSTALL_END = "# --- end of course setup ---"


def colab_url(notebook_path: str) -> str:
    """Colab address of a notebook given by its path in the repository."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{notebook_path}"


def badge(notebook_path: str) -> str:
    """Markdown of the 'Open in Colab' link for ``notebook_path`` (repository-relative).

    A text link, not Colab's badge image: the image would be fetched from the internet each
    time the notebook is opened, and show as a broken image offline.
    """
    return f"[Open in Colab]({colab_url(notebook_path)})"


#: The Python version whose ipykernel the committed notebooks' metadata describes (CI's).
PYTHON_VERSION = "3.11.7"

#: The notebook metadata exactly as JupyterLab 4 writes it when it saves a notebook whose
#: kernel is ipykernel's "python3" on Python ``PYTHON_VERSION``. A notebook committed with
#: anything else (another display_name, a shorter language_info, another version) is marked
#: modified as soon as its kernel starts, so closing it untouched asks to save.
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": PYTHON_VERSION,
    },
}


def install_block() -> str:
    """First lines of every setup cell: on Colab, install the course package once per session."""
    return "\n".join([
        INSTALL_MARKER,
        "import importlib.util, subprocess, sys",
        'if "google.colab" in sys.modules and importlib.util.find_spec("ae_helpers") is None:',
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", '
        f'"ae-helpers @ git+https://github.com/{REPO}@{BRANCH}"], check=True)',
        INSTALL_END,
    ])


#: nbgrader's default exchange folder, which a laptop does not have.
DEFAULT_EXCHANGE = "/usr/local/share/nbgrader/exchange"


def local_exchange(default: str | None = None) -> str | None:
    """An exchange folder for a course opened on one's own machine, or None to keep nbgrader's.

    JupyterLab's *Assignments* tab lists nbgrader's exchange, by default ``default``
    (``DEFAULT_EXCHANGE`` unless given), which on a laptop neither exists nor can be created:
    the tab shows "Error fetching courses!" and the server logs "Unwritable directory". Opened locally, the course hands out
    ``exercises/`` directly, so an empty exchange of the user's own (in Jupyter's data folder,
    created here) is enough: the tab then lists no assignments, without an error.

    None, so that the exchange set elsewhere stays, on a JupyterHub (``JUPYTERHUB_*`` in the
    environment), when a Jupyter configuration folder's nbgrader_config names the exchange
    (INSTRUCTORS.md's /etc/jupyter/nbgrader_config.py), or when ``default`` is writable.
    """
    import os
    from jupyter_core.paths import jupyter_config_path, jupyter_data_dir
    default = default or DEFAULT_EXCHANGE
    if any(key.startswith("JUPYTERHUB_") for key in os.environ):
        return None
    if os.path.isdir(default) and os.access(default, os.W_OK | os.X_OK):
        return None
    for folder in jupyter_config_path():
        for name in ("nbgrader_config.py", "nbgrader_config.json"):
            try:
                if "Exchange" in (Path(folder) / name).read_text(errors="replace"):
                    return None
            except OSError:
                pass
    exchange = Path(jupyter_data_dir()) / "nbgrader_exchange"
    try:
        exchange.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(exchange)


def student_runtime_modules() -> tuple[str, ...]:
    """``ae_helpers`` and every module of it a notebook may import (all but this subpackage).

    Found on disk, nothing imported: ``("ae_helpers", "ae_helpers.checks", ...)``.
    """
    import pkgutil
    package = Path(__file__).resolve().parents[1]
    return ("ae_helpers",) + tuple(f"ae_helpers.{m.name}" for m in pkgutil.iter_modules([str(package)])
                                   if not m.ispkg)


def student_path(notebook: Path) -> str:
    """Repository path a student opens for ``notebook``: solutions map to their exercises copy."""
    rel = Path(notebook).resolve().relative_to(ROOT).as_posix()
    if rel.startswith("solutions/"):
        rel = "exercises/" + rel[len("solutions/"):]
    return rel


def notebooks() -> list[Path]:
    """Every lecture and solution notebook of the course (the sources a maintainer edits)."""
    return sorted((ROOT / "lectures").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*/*.ipynb"))


def nbgrader_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default: this process's environment) with this interpreter's scripts
    folder first on PATH: nbgrader runs ``alembic`` from there when it creates a gradebook, and
    a grading server's nbgrader may be started without the environment activated."""
    import os
    import sys
    env = dict(os.environ if env is None else env)
    scripts = os.path.dirname(sys.executable)
    path = env.get("PATH", "")
    if path.split(os.pathsep)[:1] != [scripts]:
        env["PATH"] = scripts + os.pathsep + path if path else scripts
    return env


@contextlib.contextmanager
def scripts_first_on_os_path() -> Iterator[None]:
    """While the block runs, ``os.environ["PATH"]`` of this process is ``nbgrader_env()``'s (for
    nbgrader's API run in-process, whose ``alembic`` subprocess inherits it); restored after."""
    import os
    old = os.environ.get("PATH")
    os.environ["PATH"] = nbgrader_env()["PATH"]
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = old


def run_nbgrader(args: list[str], course_root: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader <args>`` in ``course_root``; return the CompletedProcess (output captured).

    With ``check``, a non-zero exit raises RuntimeError carrying nbgrader's output.
    """
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_root, env=nbgrader_env(),
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed in {course_root}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def chapters_in(course_dir: Path) -> list[str]:
    """The chapters whose nbgrader source ``solutions/<chapter>/*.ipynb`` a course directory (or
    this repository) holds, sorted."""
    folder = Path(course_dir) / "solutions"
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) if folder.is_dir() else []


def sync_notebooks() -> list[Path]:
    """Rewrite the badge cell, the install block and the metadata of every notebook from this module."""
    import nbformat
    changed = []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        if _apply_template(nb, student_path(path)):
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def _apply_template(nb, repo_path: str) -> bool:
    """Put the current badge, install block and metadata into ``nb``; return True if anything changed."""
    import copy

    import nbformat
    badge_cell = next(c for c in nb.cells if c.cell_type == "markdown" and "colab.research.google.com" in c.source)
    setup_cell = next(c for c in nb.cells if c.cell_type == "code")
    new_badge = badge(repo_path)
    head, sep, rest = setup_cell.source.partition(INSTALL_END)
    new_setup = install_block() + (rest if sep else "\n" + setup_cell.source)
    changed = (badge_cell.source, setup_cell.source, nb.metadata) != (new_badge, new_setup, NOTEBOOK_METADATA)
    badge_cell.source, setup_cell.source = new_badge, new_setup
    nb.metadata = nbformat.from_dict(copy.deepcopy(NOTEBOOK_METADATA))
    return changed
