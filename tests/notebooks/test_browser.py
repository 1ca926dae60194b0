"""A student in a real JupyterLab driven by headless Chromium (issue 15).

JupyterLab starts from the README's open command (the `<!-- open-command -->` block), with a
port, a token, an empty workspace and settings folder (a fresh student), the README's fast mode
(`AE_FAST=1`, an empty data folder: nothing is downloaded) and, instead of a desktop browser, a
"browser" that prints the address the server asks it to open. One server and one Chromium serve
the whole module. Chromium opens that address and checks, as a student would see it:

- lecture 01 is open, and the file browser reaches `exercises/` from the server root;
- the lecture, once its kernel is up, is not marked modified, and closing it asks nothing;
- its Colab link is a link, and no image in it is broken (offline: nothing is fetched);
- nbgrader's *Assignments* tab shows no "Error fetching courses!", and the server logs no
  "Unwritable directory";
- lecture 01 (a copy) runs with Run All: every cell ran, no error output, every figure loaded
  on the page, each training cell ends with a plain-text progress line; saved, closed, its
  kernel shut down and reopened, it shows no "Error displaying widget: model not found";
- exercise 01 (a copy of the release) with the reference answers pasted into its solution cells
  passes nbgrader's *Validate* button ("Success!"), and the blank release fails it, naming its
  first test cell.

The copies live in `build/browser-test-<random>/` (git-ignored, removed afterwards); the
committed lecture, exercise and solution are checked byte-identical after each test.

Selected with `-m browser`. Skipped, with the reason, where Chromium, chromedriver or
selenium is missing; with `AE_REQUIRE_BROWSER=1` (set by .ci/run, which installs Debian's
`chromium` and `chromium-driver`) it fails instead. Screenshots: `AE_BROWSER_SCREENSHOTS=DIR`
keeps one per step there (else a tmp folder does, with one at each timeout); a failing test
adds `FAILED-<step>.png` and `FAILED-<step>-jupyterlab.log` and names both in its message.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from ae_helpers.instructor import course

pytestmark = pytest.mark.browser

REQUIRED = os.environ.get("AE_REQUIRE_BROWSER") == "1"
LECTURE = "lectures/01_linear_ae_pca.ipynb"


def _find(*names):
    return next((shutil.which(n) for n in names if shutil.which(n)), None)


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not _find("chromium", "chromium-browser", "google-chrome"):
        return "no Chromium (Debian: apt-get install chromium chromium-driver)"
    if not _find("chromedriver"):
        return "no chromedriver (Debian: apt-get install chromium-driver)"
    return None


def open_command() -> list[str]:
    """The `jupyter lab …` part of the README's open command, as arguments."""
    text = (course.ROOT / "README.md").read_text()
    block = text.split("<!-- open-command -->", 1)[1]
    line = next(ln for ln in block.splitlines() if ln.startswith("python3 "))
    jupyter = line.split("&&")[-1].strip()
    args = shlex.split(jupyter)
    assert args[:2] == ["jupyter", "lab"], f"the open command does not end with `jupyter lab …`: {jupyter!r}"
    return args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CURRENT = "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"


@dataclass
class Lab:
    """A running JupyterLab: the address it asked a browser to open, its log, the screenshots
    folder, and ``work``, a scratch folder inside the served root (``build/`` is git-ignored)
    that holds the copies the tests run, save and validate."""

    address: str
    log: Path
    shots: Path
    work: Path

    def rel(self, path: Path) -> str:
        """``path`` as JupyterLab names it: relative to the served root (the repository)."""
        return path.relative_to(course.ROOT).as_posix()


def _server_env(tmp: Path) -> dict[str, str]:
    """The student's environment of the README's fast mode: AE_FAST=1 and an empty data folder
    (nothing cached, nothing downloaded: lecture 01 runs on the embedded stand-ins); no
    MPLBACKEND (the test suite's Agg would hide inline figures), no grading flags."""
    env = dict(os.environ, JUPYTER_DATA_DIR=str(tmp / "jupyter_data"), AE_FAST="1",
               AE_DATA_DIR=str(tmp / "ae_data"))
    (tmp / "ae_data").mkdir()
    for key in [k for k in env if k.startswith(("JUPYTERHUB_", "AE_CLAIMS"))]:
        del env[key]
    for key in ("MPLBACKEND", "NBGRADER_EXECUTION"):
        env.pop(key, None)
    return env


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots and, on failure, the JupyterLab log go: AE_BROWSER_SCREENSHOTS, else tmp."""
    folder = Path(os.environ.get("AE_BROWSER_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory, shots):
    """JupyterLab as the README starts it, shared by the module's tests; yields a ``Lab``."""
    reason = _missing()
    if reason:
        if REQUIRED:
            pytest.fail(f"{reason} (AE_REQUIRE_BROWSER=1: the browser test must run here)")
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), secrets.token_hex(16)
    args = open_command()
    cmd = [sys.executable, "-m", "jupyter", *args[1:],
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
           "--ServerApp.open_browser=True", "--LabApp.open_browser=True",
           "--ServerApp.browser=echo OPEN-IN-BROWSER %s",
           f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
           f"--LabApp.user_settings_dir={tmp / 'settings'}",
           "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    # The student answered "No" to JupyterLab's "get notified about official Jupyter news?" toast,
    # which would otherwise cover a corner of every screenshot (and would fetch news if answered yes).
    news = tmp / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')
    log = tmp / "jupyterlab.log"
    work = course.ROOT / "build" / f"browser-test-{secrets.token_hex(4)}"
    work.mkdir(parents=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=course.ROOT, stdout=out, stderr=subprocess.STDOUT, env=_server_env(tmp))
    try:
        address = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and address is None:
            assert proc.poll() is None, f"JupyterLab stopped:\n{log.read_text()[-3000:]}"
            found = re.search(r"OPEN-IN-BROWSER (\S+)", log.read_text())
            address = found and found.group(1)
            time.sleep(0.3)
        assert address, f"JupyterLab did not ask for a browser within 60 s:\n{log.read_text()[-3000:]}"
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=10)
        yield Lab(address, log, shots, work)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)     # build/ stays (git-ignored; another module may use it)


@pytest.fixture(scope="module")
def browser(lab):
    """Headless Chromium, shared by the module's tests; ``browser.shot(name)`` saves a PNG."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(arg)
    options.binary_location = _find("chromium", "chromium-browser", "google-chrome")
    driver = webdriver.Chrome(options=options, service=Service(_find("chromedriver")))

    def shot(name):
        path = lab.shots / f"{name}.png"
        driver.save_screenshot(str(path))
        return path

    driver.shot = shot
    yield driver
    shot("last")
    driver.quit()


@contextlib.contextmanager
def evidence(browser, lab: Lab, name: str):
    """On failure inside the block: a screenshot and a copy of the JupyterLab log in
    ``lab.shots``, their paths added to the assertion message."""
    try:
        yield
    except Exception as err:
        with contextlib.suppress(Exception):     # show the first error output, if the page has one
            browser.execute_script(CURRENT + "const e = w && w.node.querySelector('.jp-OutputArea-output"
                                   "[data-mime-type=\"application/vnd.jupyter.stderr\"]');"
                                   " if (e) e.scrollIntoView({block: 'center'});")
            time.sleep(0.3)
        shot = browser.shot(f"FAILED-{name}")
        log = shutil.copy(lab.log, lab.shots / f"FAILED-{name}-jupyterlab.log")
        raise AssertionError(f"{err}\n  screenshot: {shot}\n  JupyterLab log: {log}") from err


def wait_for(driver, script, timeout=30, what="condition", *args):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.25)
    driver.shot(f"timeout-{re.sub(r'[^a-z0-9]+', '-', what.lower())}")
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")




def test_a_student_opens_the_course(lab, browser):
    with evidence(browser, lab, "open-the-course"):
        _opens_the_course(lab, browser)


def _opens_the_course(lab, browser):
    log = lab.log
    browser.get(lab.address)

    # Lecture 01 is open and its kernel is up.
    wait_for(browser, CURRENT + f"return w && w.context && w.context.path === {LECTURE!r};", 60,
             "lecture 01 to open")
    wait_for(browser, CURRENT + "return w.sessionContext.session && w.sessionContext.session.kernel"
             " && w.sessionContext.session.kernel.status === 'idle' && w.sessionContext.kernelDisplayName;",
             60, "the lecture's kernel")
    # JupyterLab writes kernelspec and language_info once the kernel's spec and info arrive.
    browser.set_script_timeout(30)
    browser.execute_async_script(CURRENT + "const done = arguments[arguments.length - 1];"
                                 " const k = w.sessionContext.session.kernel;"
                                 " Promise.all([k.info, k.spec]).then(() => setTimeout(() => done(true), 500));")
    browser.shot("lecture_open")

    # Untouched, it is not marked modified.
    dirty = browser.execute_script(CURRENT + "return [w.context.model.dirty, w.title.className];")
    assert dirty[0] is False and "jp-mod-dirty" not in dirty[1], (
        "lecture 01 is marked modified right after opening: its kernelspec/language_info differ "
        "from what JupyterLab writes (ae_helpers.instructor.course.NOTEBOOK_METADATA)")

    # The Colab link is text; no image of the notebook is broken (nothing fetched offline).
    links = browser.execute_script(CURRENT + "return [...w.node.querySelectorAll('a')]"
                                   ".filter(a => a.href.includes('colab.research.google.com')).map(a => a.innerText);")
    assert links == ["Open in Colab"], links
    broken = browser.execute_script(CURRENT + "return [...w.node.querySelectorAll('.jp-MarkdownOutput img')]"
                                    ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);")
    assert broken == [], f"broken images in lecture 01: {broken}"

    # The file browser reaches exercises/ from the server root.
    browser.execute_script("document.querySelector('.jp-BreadCrumbs-home').click();")
    wait_for(browser, "return [...document.querySelectorAll('.jp-DirListing-itemText')]"
             ".some(e => e.innerText.trim() === 'exercises');", 15, "exercises/ in the file browser")
    browser.execute_script("window.jupyterapp.commands.execute('filebrowser:go-to-path', "
                           "{path: 'exercises', dontShowBrowser: false});")
    wait_for(browser, "return [...document.querySelectorAll('.jp-DirListing-itemText')]"
             ".some(e => e.innerText.trim() === '01_linear_ae_pca');", 15, "exercises/01_linear_ae_pca")
    browser.shot("file_browser_exercises")

    # Closing the untouched lecture asks nothing.
    browser.execute_script("window.jupyterapp.commands.execute('application:close');")
    time.sleep(1.5)
    dialogs = browser.execute_script("return [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText);")
    assert dialogs == [], f"closing the untouched lecture asked: {dialogs}"
    assert not browser.execute_script(CURRENT + f"return !!(w && w.context && w.context.path === {LECTURE!r});")

    # nbgrader's Assignments tab: no error, and nothing unwritable in the server's log.
    browser.execute_script("window.jupyterapp.commands.execute('nbgrader:open-assignment-list');")
    wait_for(browser, "const b = document.querySelector('#course_list_default');"
             " return b && !/Loading/.test(b.innerText) && b.innerText;", 30, "the Assignments tab's course list")
    time.sleep(1)
    browser.shot("assignments_tab")
    text = browser.execute_script("return document.body.innerText;")
    assert "Error fetching courses" not in text
    assert "exchange directory does not exist" not in text
    assert "Unwritable directory" not in log.read_text()


# --- Lecture 01 run in the browser, saved and reopened; exercise 01 validated (issue 15) ---------

EXERCISE = "exercises/01_linear_ae_pca/01_linear_ae_pca.ipynb"
SOLUTION = "solutions/01_linear_ae_pca/01_linear_ae_pca.ipynb"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PROGRESS_LINE = re.compile(r"epochs: 100%\|█+\| (\d+)/\1 ")
# The notebook ``arguments[0]`` is open, made the current tab, and its kernel is idle.
KERNEL_IDLE = """const app = window.jupyterapp;
const w = [...app.shell.widgets('main')].find(w => w.context && w.context.path === arguments[0]);
if (w && app.shell.currentWidget !== w) app.shell.activateById(w.id);
const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
return !!(k && k.status === 'idle' && app.shell.currentWidget === w);"""

# What the notebook shows, read from its model and its page: execution counts, error outputs
# (and tracebacks on stderr), image outputs in the model and <img> elements on the page, the
# output text of every cell that calls fit( and the widget views left in the outputs.
NOTEBOOK_STATE = CURRENT + """
const out = {counts: [], errors: [], pngs: 0, widgets: 0, fit_outputs: []};
for (const cell of w.content.widgets) {
  if (cell.model.type !== 'code') continue;
  out.counts.push(cell.model.executionCount);
  for (const o of cell.model.outputs.toJSON()) {
    if (o.output_type === 'error') out.errors.push(o.ename + ': ' + o.evalue);
    const text = Array.isArray(o.text) ? o.text.join('') : (o.text || '');
    if (o.output_type === 'stream' && o.name === 'stderr' && /Traceback/.test(text)) out.errors.push(text.slice(0, 800));
    if (o.data && o.data['image/png']) out.pngs += 1;
    if (o.data && o.data[arguments[0]]) out.widgets += 1;
  }
  if (/(^|[^\\w.])fit\\(/.test(cell.model.sharedModel.getSource()))
    out.fit_outputs.push(cell.model.outputs.toJSON().map(o => [].concat(o.text || (o.data || {})['text/plain'] || []).join('')).join(''));
}
out.stderr_tracebacks = [...w.node.querySelectorAll(
  '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.innerText)
  .filter(t => /Traceback/.test(t)).map(t => t.slice(0, 800));
out.imgs = [...w.node.querySelectorAll('.jp-OutputArea-output img')].map(i => [i.complete, i.naturalWidth, i.naturalHeight]);
out.text = w.node.innerText;
return out;
"""


def _sha(rel: str) -> str:
    return hashlib.sha256((course.ROOT / rel).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def committed():
    """sha256 of the committed lecture, exercise and solution; the tests work on copies."""
    files = (LECTURE, EXERCISE, SOLUTION)
    before = {f: _sha(f) for f in files}
    yield lambda: [f for f in files if _sha(f) != before[f]]


def open_notebook(browser, lab: Lab, path: str, timeout: int = 90) -> None:
    """Open ``path`` (relative to the served root) in JupyterLab; wait until its kernel is idle."""
    if not browser.execute_script("return !!window.jupyterapp;"):
        browser.get(lab.address)
        wait_for(browser, "return !!window.jupyterapp;", 60, "JupyterLab")
    browser.set_script_timeout(60)
    browser.execute_async_script(
        "const path = arguments[0], done = arguments[arguments.length - 1], app = window.jupyterapp;"
        " app.restored.then(() => app.commands.execute('docmanager:open', {path}))"
        ".then(w => w.context.ready).then(() => done(true));", path)
    wait_for(browser, KERNEL_IDLE, timeout, f"{path} open with an idle kernel", path)


def close_notebook(browser, path: str) -> None:
    """Close the notebook ``path`` (saved: nothing is asked), wait until it is gone, and shut its
    kernel down, as when JupyterLab is closed: reopened, it starts a new kernel."""
    browser.execute_script("for (const w of window.jupyterapp.shell.widgets('main'))"
                           " if (w.context && w.context.path === arguments[0]) w.close();", path)
    wait_for(browser, "return ![...window.jupyterapp.shell.widgets('main')]"
             ".some(w => w.context && w.context.path === arguments[0]);", 15, f"{path} to close", path)
    browser.set_script_timeout(30)
    browser.execute_async_script(
        "const path = arguments[0], done = arguments[arguments.length - 1];"
        " const sessions = window.jupyterapp.serviceManager.sessions;"
        " sessions.refreshRunning().then(() => Promise.all([...sessions.running()]"
        ".filter(s => s.path === path).map(s => sessions.shutdown(s.id)))).then(() => done(true));", path)


def run_all(browser, path: str, timeout: int = 300):
    """Run > Run All Cells on the current notebook; True once every cell ran without error."""
    browser.set_script_timeout(timeout)
    ok = browser.execute_async_script(
        CURRENT + "const done = arguments[arguments.length - 1];"
        " window.jupyterapp.shell.activateById(w.id);"
        " window.jupyterapp.commands.execute('notebook:run-all-cells').then(ok => done(ok), e => done('' + e));")
    wait_for(browser, KERNEL_IDLE, 60, "the kernel to be idle after Run All", path)
    return ok


def save(browser) -> None:
    """File > Save (what Ctrl-S does) on the current notebook."""
    browser.set_script_timeout(30)
    browser.execute_async_script("const done = arguments[arguments.length - 1];"
                                 " window.jupyterapp.commands.execute('docmanager:save').then(() => done(true));")
    assert browser.execute_script(CURRENT + "return !w.context.model.dirty;"), "the notebook is still modified after Save"


def show_first_figure(browser) -> None:
    browser.execute_script(CURRENT + "const i = w.node.querySelector('.jp-OutputArea-output img');"
                           " if (i) i.scrollIntoView({block: 'center'});")
    time.sleep(0.3)


# The page text of each training cell's output, each cell scrolled into view first (JupyterLab
# renders cells outside the viewport lazily); null while one of them has not rendered yet.
FIT_CELLS_ON_PAGE = CURRENT + """
const texts = [];
for (const cell of w.content.widgets) {
  if (cell.model.type !== 'code' || !/(^|[^\\w.])fit\\(/.test(cell.model.sharedModel.getSource())) continue;
  cell.node.scrollIntoView({block: 'center'});
  const shown = [...cell.outputArea.node.querySelectorAll('.jp-OutputArea-output')];
  if (!shown.length) return null;
  texts.push(shown.map(o => [o.getAttribute('data-mime-type'), o.innerText]));
}
return texts;
"""


# Every image output of the notebook's model is an <img> on the page, loaded, with a size.
FIGURES_LOADED = CURRENT + """
const pngs = [...w.content.widgets].filter(c => c.model.type === 'code')
  .reduce((n, c) => n + c.model.outputs.toJSON().filter(o => o.data && o.data['image/png']).length, 0);
const imgs = [...w.node.querySelectorAll('.jp-OutputArea-output img')];
return imgs.length === pngs && imgs.every(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
"""


def settle(browser, script: str, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``script`` to return true (pages render late under load); no error."""
    deadline = time.monotonic() + timeout
    while not browser.execute_script(script):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def progress_problems(fit_outputs: list[str]) -> list[str]:
    """Each training cell's output must hold a finished plain-text bar line."""
    return [text[:300] for text in fit_outputs if not PROGRESS_LINE.search(text)]


@pytest.fixture(scope="module")
def executed_lecture(lab, browser):
    """Lecture 01, copied into the scratch folder, opened, run with Run All and saved.

    Returns (path, what Run All returned, NOTEBOOK_STATE, seconds Run All took)."""
    copy = lab.work / "lectures" / Path(LECTURE).name
    copy.parent.mkdir()
    shutil.copy2(course.ROOT / LECTURE, copy)
    path = lab.rel(copy)
    with evidence(browser, lab, "lecture-run-all"):
        open_notebook(browser, lab, path)
        start = time.monotonic()
        ok = run_all(browser, path)
        seconds = time.monotonic() - start
        settle(browser, FIGURES_LOADED, 30)
        state = browser.execute_script(NOTEBOOK_STATE, WIDGET_MIME)
        show_first_figure(browser)
        browser.shot("lecture_run_all")
        save(browser)
    return path, ok, state, seconds


def test_lecture_01_runs_with_its_figures(lab, browser, executed_lecture, committed):
    path, ok, state, seconds = executed_lecture
    with evidence(browser, lab, "lecture-figures"):
        errors = state["errors"] + state["stderr_tracebacks"]
        assert ok is True and errors == [], f"Run All on lecture 01 failed ({ok!r}): {errors}"
        assert None not in state["counts"], f"cells that did not run: {state['counts']}"
        shows = sum(c.source.count("plt.show()") for c in nbformat.read(course.ROOT / LECTURE, as_version=4).cells
                    if c.cell_type == "code")
        assert state["pngs"] == shows > 0, f"lecture 01 made {state['pngs']} figures; its cells call plt.show() {shows} times"
        loaded = [i for i in state["imgs"] if i[0] and i[1] > 0 and i[2] > 0]
        assert len(loaded) == len(state["imgs"]) == state["pngs"], (
            f"{state['pngs']} figure outputs, {len(state['imgs'])} <img> on the page, {len(loaded)} loaded")
        assert any("fast mode:" in t for t in state["fit_outputs"]), "AE_FAST=1 did not reach the kernel"
        assert state["fit_outputs"] and not progress_problems(state["fit_outputs"]), state["fit_outputs"]
        print(f"lecture 01: Run All {seconds:.1f} s, {state['pngs']} figures rendered, {len(state['counts'])} cells")
        assert committed() == []


def test_lecture_01_saved_and_reopened_has_no_widget_error(lab, browser, executed_lecture, committed):
    path, *_ = executed_lecture
    with evidence(browser, lab, "lecture-reopened"):
        close_notebook(browser, path)
        open_notebook(browser, lab, path)
        shown = wait_for(browser, FIT_CELLS_ON_PAGE, 15, "the training cells' outputs on the page")
        time.sleep(2)                       # widget views render (or fail) once the kernel is up
        shown = browser.execute_script(FIT_CELLS_ON_PAGE)
        browser.shot("lecture_reopened")
        page = browser.execute_script("return document.body.innerText;")
        for bad in ("Error displaying widget", "model not found"):
            if bad in page:
                raise AssertionError(f"the reopened lecture shows {bad!r} (a tqdm widget saved without its state)")
        settle(browser, FIGURES_LOADED, 30)
        state = browser.execute_script(NOTEBOOK_STATE, WIDGET_MIME)
        assert state["widgets"] == 0, f"{state['widgets']} widget outputs in the reopened lecture"
        # Saved widget state (the README's command turns it on) of bars left behind would make the
        # reopened lecture modified at once: closing it untouched would ask to save.
        dirty = browser.execute_script(CURRENT + "return w.context.model.dirty;")
        assert dirty is False, "the reopened lecture is marked modified before anything was changed"
        assert state["pngs"] == len(state["imgs"]) > 0 and all(i[0] and i[1] > 0 for i in state["imgs"]), (
            f"reopened: {state['pngs']} figure outputs, on the page {state['imgs']}")
        plain = ["".join(text for mime, text in cell if mime == "text/plain") for cell in shown]
        assert plain and not progress_problems(plain), (
            f"a training cell of the reopened lecture shows no plain-text progress line: {shown}")
        saved = nbformat.read(lab.work / "lectures" / Path(LECTURE).name, as_version=4)
        left = [c.source[:60] for c in saved.cells if c.cell_type == "code"
                and any(WIDGET_MIME in o.get("data", {}) for o in c.outputs)]
        assert left == [], f"the saved lecture keeps widget outputs in cells {left}"
        assert committed() == []


def reference_answers() -> dict[str, str]:
    """grade_id → the reference answer of every solution cell (its BEGIN/END SOLUTION lines removed)."""
    from kernel_grader import answer_of
    from nbgrader_harness import solution_sources
    nb = nbformat.read(course.ROOT / SOLUTION, as_version=4)
    return {gid: answer_of(source) for gid, source in solution_sources(nb).items()}


def exercise_copy(lab: Lab, name: str) -> str:
    """A copy of the released exercise folder in the scratch folder; its notebook's path."""
    folder = lab.work / name / Path(EXERCISE).parent.name
    shutil.copytree(course.ROOT / Path(EXERCISE).parent, folder)
    return lab.rel(folder / Path(EXERCISE).name)


def paste(browser, answers: dict[str, str]) -> int:
    """Type each answer into its solution cell through the notebook model; how many were replaced."""
    return browser.execute_script(CURRENT + """
let n = 0;
for (const cell of w.content.widgets) {
  const meta = cell.model.getMetadata('nbgrader') || {};
  if (meta.solution && arguments[0][meta.grade_id] !== undefined) {
    cell.model.sharedModel.setSource(arguments[0][meta.grade_id]);
    n += 1;
  }
}
return n;""", answers)


def validate(browser, name: str, timeout: int = 180) -> list[str]:
    """Press nbgrader's Validate button; ["<message classes>", "<dialog text>"] of its dialog."""
    button = browser.execute_script(CURRENT + "return [...w.toolbar.node.querySelectorAll('jp-button')]"
                                    ".find(b => b.innerText.trim() === 'Validate');")
    assert button is not None, ("no Validate button in the exercise's toolbar (nbgrader's lab extension): "
                                + browser.execute_script(CURRENT + "return w.toolbar.node.innerText;"))
    button.click()
    result = wait_for(browser, "const d = document.querySelector('.jp-Dialog'); if (!d) return null;"
                      " const m = d.querySelector('#validation-message');"
                      " return [m ? m.className : 'no validation message', d.innerText];",
                      timeout, "nbgrader's validation dialog")
    browser.shot(name)
    browser.execute_script("document.querySelector('.jp-Dialog .jp-mod-accept').click();")
    wait_for(browser, "return !document.querySelector('.jp-Dialog');", 10, "the dialog to close")
    return result


def test_exercise_01_validates_with_the_reference_answers(lab, browser, committed):
    answers = reference_answers()
    path = exercise_copy(lab, "exercise-reference")
    with evidence(browser, lab, "exercise-reference"):
        open_notebook(browser, lab, path)
        assert paste(browser, answers) == len(answers) >= 8, "not every solution cell took its answer"
        classes, text = validate(browser, "exercise_validated")
        close_notebook(browser, path)
        assert committed() == []
        assert "validation-success" in classes and "Success! Your notebook passes all the tests." in text, text


def test_exercise_01_blank_release_fails_validation(lab, browser, committed):
    path = exercise_copy(lab, "exercise-blank")
    release = nbformat.read(course.ROOT / EXERCISE, as_version=4)
    first_test = next(c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")
                      and c.cell_type == "code")
    with evidence(browser, lab, "exercise-blank"):
        open_notebook(browser, lab, path)
        classes, text = validate(browser, "exercise_blank_validated")
        assert "validation-failed" in classes and "The following cell failed:" in text, text
        assert first_test.source.splitlines()[0] in text, f"the dialog does not name the first test cell:\n{text}"
        assert "Success" not in text
        close_notebook(browser, path)
        assert committed() == []
