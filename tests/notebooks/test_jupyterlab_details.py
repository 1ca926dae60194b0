"""JupyterLab and Colab details a student meets (issue 15, "Put right"), without a browser.

tests/notebooks/test_browser.py checks the same things in a real JupyterLab and Chromium; these run
everywhere and in seconds:

1. the README's open command serves the repository root and still opens lecture 01;
2. fit's progress bar leaves plain text in a saved notebook, not a widget that cannot be
   shown again ("Error displaying widget: model not found");
3. a student who opens the course locally gets an exchange nbgrader can use, so the
   Assignments tab shows no "Error fetching courses!";
4. every notebook carries exactly the metadata JupyterLab writes, so it opens unmodified;
5. the Colab link is text: nothing is fetched from the internet when a notebook opens.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from pathlib import Path

import nbformat
import pytest

from ae_helpers.instructor import course

ROOT = course.ROOT
NOTEBOOKS = course.notebooks() + sorted((ROOT / "exercises").glob("*/*.ipynb"))
IDS = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS]


# ------------------------------------------------------------------ 1. the open command

def readme_open_command() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- open-command -->", 1)[1]
    line = next(ln for ln in block.splitlines() if ln.startswith("python3 "))
    return shlex.split(line.split("&&")[-1])


def test_open_command_serves_the_repository_root_and_opens_lecture_01(monkeypatch):
    """What jupyter_server makes of the command's arguments: the root of the file browser, and
    the notebook the browser is sent to (relative to that root)."""
    from jupyter_server.serverapp import ServerApp
    args = readme_open_command()
    assert args[:2] == ["jupyter", "lab"], args
    monkeypatch.chdir(ROOT)
    app = ServerApp()
    app.parse_command_line(args[2:])
    assert Path(app.root_dir).resolve() == ROOT, (
        f"the file browser's root is {app.root_dir}, not the repository: exercises/ is out of reach")
    assert app._resolve_file_to_run_and_root_dir() == "lectures/01_linear_ae_pca.ipynb"


def test_open_command_makes_jupyterlab_save_widget_state(monkeypatch):
    """The settings the command points JupyterLab to (``--LabApp.app_settings_dir``) turn on the
    widget manager's saveState, which JupyterLab leaves off: a saved notebook with the latent
    sliders then reopens with the sliders, not "Error displaying widget: model not found"."""
    from jupyterlab.labapp import LabApp
    from jupyterlab_server.settings_utils import get_settings
    monkeypatch.chdir(ROOT)
    app = LabApp()
    app.parse_command_line(readme_open_command()[2:])
    plugin = "@jupyter-widgets/jupyterlab-manager:plugin"
    schemas = str(Path(app.app_dir) / "schemas")
    extensions = [str(Path(sys.prefix) / "share" / "jupyter" / "labextensions")]

    def save_state(settings_dir: str) -> bool:
        found, _ = get_settings(settings_dir, schemas, str(ROOT / "no-user-settings"), plugin,
                                labextensions_path=extensions)
        return found["schema"]["properties"]["saveState"]["default"]

    assert save_state(app.app_settings_dir) is True, (
        f"JupyterLab started by the README's command does not save widget state (settings from {app.app_settings_dir})")
    assert save_state(str(ROOT / "no-such-settings")) is False, "JupyterLab's own default changed: this test proves nothing"


# ------------------------------------------------------------------ 2. the progress bar

def test_saved_progress_bar_is_plain_text(tmp_path):
    """fit in a real kernel: while it runs the bar is tqdm's widget; what stays in the notebook
    (and in its HTML) is the bar's last line as text, not a widget view."""
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import torch\nfrom torch import nn\nfrom ae_helpers.train import fit\n"
        "x = torch.randn(40, 6)\n"
        "h = fit(nn.Sequential(nn.Linear(6, 2), nn.Linear(2, 6)), x,\n"
        "        lambda m, b: ((m(b) - b) ** 2).mean(), epochs=3, batch_size=20, val_data=x[:8])")])
    nb.metadata = nbformat.from_dict(course.NOTEBOOK_METADATA)
    env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
    env["AE_FAST"] = "1"
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)                   # nbclient applies update_display_data as JupyterLab does
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})], (
        f"a widget view is left in the saved notebook: {outputs}")
    lines = [o.data["text/plain"] for o in outputs if o.output_type == "display_data"]
    assert len(lines) == 1 and lines[0].startswith("epochs: 100%|") and "3/3" in lines[0], outputs
    assert "loss " in lines[0] and "val " in lines[0]
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "epochs: 100%|" in html and "Error displaying widget" not in html


def test_saved_loop_progress_bar_is_plain_text(tmp_path):
    """ae_helpers.progress (a lecture's loop over models): the same plain-text record as fit's."""
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from ae_helpers import progress\nseen = [b for b in progress([0.5, 1.0, 2.0], desc='one model per beta')]\nprint(seen)")])
    nb.metadata = nbformat.from_dict(course.NOTEBOOK_METADATA)
    env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})], outputs
    lines = [o.data["text/plain"] for o in outputs if o.output_type == "display_data"]
    assert len(lines) == 1 and lines[0].startswith("one model per beta: 100%|") and "3/3" in lines[0], outputs
    assert "[0.5, 1.0, 2.0]" in "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_bar_is_text_on_stderr_where_ipykernel_is_imported_but_no_shell_runs():
    """tqdm.auto takes any process that imported ipykernel for a notebook; fit's bar does not."""
    import subprocess
    code = ("import ipykernel.ipkernel, torch\nfrom ae_helpers.train import fit\n"
            "fit(torch.nn.Linear(3, 3), torch.randn(8, 3), lambda m, b: ((m(b) - b) ** 2).mean(), epochs=2)")
    env = {k: v for k, v in os.environ.items() if k not in ("NBGRADER_EXECUTION", "AE_FAST")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "epochs: 100%|" in proc.stderr and "epoch" not in proc.stdout.replace("fast mode", ""), proc


# ------------------------------------------------------------------ 3. the exchange

@pytest.fixture
def laptop(tmp_path, monkeypatch):
    """A student's machine: no JupyterHub, no Jupyter configuration, nbgrader's default
    exchange missing; Jupyter's data folder in tmp_path."""
    for key in [k for k in os.environ if k.startswith("JUPYTERHUB_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("JUPYTER_NO_CONFIG", "1")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(course, "DEFAULT_EXCHANGE", str(tmp_path / "no" / "exchange"))
    return tmp_path


def test_assignments_tab_lists_without_error_on_a_laptop(laptop):
    """nbgrader's own handler code, at the repository root as the open command serves it."""
    from nbgrader.server_extensions.assignment_list.handlers import AssignmentList
    lister = AssignmentList()
    lister.root_dir = str(ROOT)
    courses = lister.list_courses()
    assert courses["success"], f"the Assignments tab would show 'Error fetching courses!': {courses['value']}"
    released = lister.list_released_assignments()
    assert released == {"success": True, "value": []}, released
    assert (laptop / "data" / "nbgrader_exchange").is_dir()


def test_exchange_is_left_alone_on_a_jupyterhub(laptop, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "student1")
    assert course.local_exchange() is None


def test_exchange_is_left_alone_where_a_jupyter_config_names_it(laptop, monkeypatch):
    etc = laptop / "etc_jupyter"
    etc.mkdir()
    (etc / "nbgrader_config.py").write_text('c = get_config()\nc.Exchange.root = "/srv/nbgrader/exchange"\n')
    monkeypatch.delenv("JUPYTER_NO_CONFIG")
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(etc))
    assert course.local_exchange() is None


def test_exchange_is_left_alone_where_the_default_is_writable(laptop):
    default = laptop / "shared_exchange"
    default.mkdir()
    assert course.local_exchange(str(default)) is None


# ------------------------------------------------------------------ 4. notebook metadata

@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_carries_the_metadata_jupyterlab_writes(path):
    metadata = json.loads(path.read_text())["metadata"]
    assert metadata == course.NOTEBOOK_METADATA, (
        "this notebook opens marked modified in JupyterLab: run `ae-course sync` "
        "(then `ae-course release --repo` for solutions)")


def test_pinned_metadata_is_what_this_kernel_reports():
    """NOTEBOOK_METADATA is what JupyterLab copies from the python3 kernel (its spec's
    display_name, ipykernel's language_info); observed by saving a notebook in JupyterLab 4.6."""
    import subprocess
    from jupyter_client.kernelspec import KernelSpecManager
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert course.NOTEBOOK_METADATA["kernelspec"] == {
        "display_name": spec.display_name, "language": spec.language, "name": "python3"}
    # ipykernel is imported in another process: once imported here, tqdm.auto would pick its
    # notebook bar for the rest of this test process.
    reported = json.loads(subprocess.run(
        [sys.executable, "-c", "import json; from ipykernel.ipkernel import IPythonKernel as K; "
                               "print(json.dumps(K.language_info))"],
        capture_output=True, text=True, check=True).stdout)
    pinned = dict(course.NOTEBOOK_METADATA["language_info"])
    assert {k: v for k, v in pinned.items() if k != "version"} == {k: v for k, v in reported.items() if k != "version"}
    if reported["version"] != pinned["version"]:
        pytest.skip(f"this Python is {platform.python_version()}, the notebooks describe {pinned['version']} "
                    "(ae_helpers.instructor.course.PYTHON_VERSION, CI's): JupyterLab here marks them modified on open")


# ------------------------------------------------------------------ 5. the Colab link

@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_colab_link_fetches_nothing(path):
    cell = nbformat.read(path, as_version=4).cells[1]
    assert "colab.research.google.com/github/" in cell.source
    assert "![" not in cell.source and "<img" not in cell.source, (
        "the Colab badge image is fetched from the internet on every open: use course.badge()")
    assert cell.source.startswith("[Open in Colab](")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
