"""A student's first minute, in a real JupyterLab driven by headless Chromium (issue 15).

JupyterLab starts from the README's open command (the `<!-- open-command -->` block), with a
port, a token, an empty workspace and settings folder (a fresh student) and, instead of a
desktop browser, a "browser" that prints the address the server asks it to open. Chromium then
opens that address and checks, as a student would see it:

- lecture 01 is open, and the file browser reaches `exercises/` from the server root;
- the lecture, once its kernel is up, is not marked modified, and closing it asks nothing;
- its Colab link is a link, and no image in it is broken (offline: nothing is fetched);
- nbgrader's *Assignments* tab shows no "Error fetching courses!", and the server logs no
  "Unwritable directory".

Selected with `-m browser`. Skipped, with the reason, where Chromium, chromedriver or
selenium is missing; with `AE_REQUIRE_BROWSER=1` (set by .ci/run, which installs Debian's
`chromium` and `chromium-driver`) it fails instead. Screenshots: `AE_BROWSER_SCREENSHOTS=DIR`
keeps one per step there (else the test's tmp_path keeps them, with one at each timeout).
"""
from __future__ import annotations

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
from pathlib import Path

import pytest

from ae_helpers import course

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


@pytest.fixture
def lab(tmp_path):
    """JupyterLab as the README starts it; yields (address the server opens, log file)."""
    reason = _missing()
    if reason:
        if REQUIRED:
            pytest.fail(f"{reason} (AE_REQUIRE_BROWSER=1: the browser test must run here)")
        pytest.skip(reason)
    port, token = _free_port(), secrets.token_hex(16)
    args = open_command()
    cmd = [sys.executable, "-m", "jupyter", *args[1:],
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
           "--ServerApp.open_browser=True", "--LabApp.open_browser=True",
           "--ServerApp.browser=echo OPEN-IN-BROWSER %s",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
           f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
           "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    env = dict(os.environ, JUPYTER_DATA_DIR=str(tmp_path / "jupyter_data"))
    for key in [k for k in env if k.startswith("JUPYTERHUB_")]:
        del env[key]
    log = tmp_path / "jupyterlab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=course.ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
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
        yield address, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(arg)
    options.binary_location = _find("chromium", "chromium-browser", "google-chrome")
    driver = webdriver.Chrome(options=options, service=Service(_find("chromedriver")))
    shots = Path(os.environ.get("AE_BROWSER_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)

    def shot(name):
        driver.save_screenshot(str(shots / f"{name}.png"))

    driver.shot = shot
    yield driver
    shot("last")
    driver.quit()


def wait_for(driver, script, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.25)
    driver.shot(f"timeout-{re.sub(r'[^a-z0-9]+', '-', what.lower())}")
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


CURRENT = "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"


def test_a_student_opens_the_course(lab, browser):
    address, log = lab
    browser.get(address)

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
        "from what JupyterLab writes (ae_helpers.course.NOTEBOOK_METADATA)")

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
