"""The course website (``site/build.py``, issue 15), built from the executed lectures and opened
in headless Chromium.

The site is built once for the module, into a temporary folder, from the lecture runs of
``lecture_runner.RunCache``: the runs ``tests/notebooks/test_lectures.py`` makes on real data in the same
session (this module waits for or reuses them), and the ones it makes itself where that test
did not run (lecture 07, which loads no 28×28 set or faces, runs on the stand-in). Chromium then
reads the pages from a small local HTTP server (a canvas may read back only same-origin images)
and checks, on every lecture page: figures loaded and not blank, maths rendered by the local
MathJax (no raw TeX left in the text), no error output; on every page: no broken internal link,
nothing fetched from another host, no ``solutions/``; the home page lists the 9 lectures and 9
exercises with the README's Colab links; search finds "ELBO" and ``apply_in_batches``. The API
page (``api.html``, issue 13) is linked from the home page and documents exactly the student
runtime: every name of ``ae_helpers.__all__`` and every public definition of its four modules
with its docstring's first line, nothing of ``ae_helpers.instructor``. It prints the build time and the
pages and figures it counted, and keeps screenshots of two pages (``AE_BROWSER_SCREENSHOTS=DIR``,
else the module's temporary folder).

Skipped where Chromium, chromedriver or selenium is missing; with ``AE_REQUIRE_BROWSER=1`` (CI)
it fails instead.
"""
from __future__ import annotations

import functools
import html as html_text
import http.server
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import nbformat
import pytest

import ae_helpers
import ae_helpers.instructor
import lecture_runner as lr
from ae_helpers.instructor import course
from test_browser import _find, _missing

REQUIRED = os.environ.get("AE_REQUIRE_BROWSER") == "1"
SITE_BUILD = course.ROOT / "site" / "build.py"


# --------------------------------------------------------------------------- the README's command

def site_command() -> str:
    """The one line of the README's ``<!-- site-command -->`` block."""
    block = (course.ROOT / "README.md").read_text(encoding="utf-8").split("<!-- site-command -->", 1)
    assert len(block) == 2, "README.md has no <!-- site-command --> block"
    fence = re.match(r"\s*```bash\n(.*?)\n```", block[1], re.DOTALL)
    assert fence, "the site-command block is not followed by a ```bash fence"
    return fence.group(1).strip()


def test_readme_site_command_builds_with_the_script():
    line = site_command()
    assert "\n" not in line and line.startswith("python3 -m venv "), line
    assert 'pip install -e ".[dev]"' in line, line
    assert line.split("&&")[-1].strip().startswith("python site/build.py"), line
    assert "site/_build/html/index.html" in (course.ROOT / "README.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- building the site once

def _executed_runs(tmp_path_factory) -> dict[str, lr.Run]:
    """Every lecture's strict fast-mode run, from the session's cache; a lecture another worker
    is running is taken last, so that this module waits only when nothing else is left."""
    cache = lr.session_cache(tmp_path_factory)
    real = functools.cache(lambda: lr.real_data_folder(tmp_path_factory.mktemp("real_data")))
    pending = {p: (lr.site_variant(nbformat.read(p, as_version=4)) if lr.FASHION.exists() else "stand-in")
               for p in lr.lectures()}
    runs: dict[str, lr.Run] = {}
    while pending:
        before = len(pending)
        for path, variant in list(pending.items()):
            folder = real if variant == "real" else (lambda: tmp_path_factory.mktemp("empty"))
            found = cache.get(path, variant, folder, wait=len(pending) == 1)
            if found is not None:
                runs[path.stem] = found
                del pending[path]
        if len(pending) == before:
            time.sleep(1)
    return runs


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(HTML folder, build seconds): the site built by site/build.py from the executed lectures."""
    if lr.FASHION.exists() is False and os.environ.get("CI"):
        pytest.fail(f"real Fashion-MNIST is missing at {lr.FASHION}")
    executed = tmp_path_factory.mktemp("executed")
    for slug, run in _executed_runs(tmp_path_factory).items():
        assert run.error is None, f"lecture {slug} failed, the site would show its error:\n{run.error}"
        nbformat.write(run.notebook, executed / f"{slug}.ipynb")
    out = tmp_path_factory.mktemp("site") / "html"
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(SITE_BUILD), "--executed", str(executed), "--out", str(out)],
                          cwd=course.ROOT, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - start
    assert done.returncode == 0, f"site/build.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    warnings = [ln for ln in done.stderr.splitlines() if "WARNING" in ln or "ERROR" in ln]
    assert not warnings, "sphinx warned:\n" + "\n".join(warnings[:20])
    print(f"\nsite built in {seconds:.1f} s from {len(list(executed.iterdir()))} executed lectures")
    return out, seconds


def pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


# --------------------------------------------------------------------------- static checks of every page

class _Refs(HTMLParser):
    """The ids and the (tag, attribute, address) references of one page."""

    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.refs.append((tag, key, attrs[key]))


@functools.cache
def _parse(page: Path) -> _Refs:
    parser = _Refs()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


@pytest.mark.parametrize("check", ["internal links", "nothing remote", "no solutions"])
@pytest.mark.browser
@pytest.mark.notebooks
def test_every_page(built, check):
    html, _ = built
    problems = []
    for page in pages(html):
        for tag, key, ref in _parse(page).refs:
            remote = urlsplit(ref).scheme in ("http", "https") or ref.startswith("//")
            if check == "nothing remote" and remote and not (tag == "a" and key == "href"):
                problems.append(f"{page.relative_to(html)}: <{tag} {key}={ref}> is fetched from another host")
            if check == "internal links" and not remote and not ref.startswith(("mailto:", "javascript:", "data:")):
                target, anchor = urldefrag(ref)
                target = urlsplit(target).path
                path = (page.parent / unquote(target)).resolve() if target else page
                if not path.is_file():
                    problems.append(f"{page.relative_to(html)}: {ref} names no built file")
                elif anchor and path.suffix == ".html" and unquote(anchor) not in _parse(path).ids:
                    problems.append(f"{page.relative_to(html)}: {ref} names no anchor of {path.name}")
            if check == "no solutions" and "solutions/" in ref:
                problems.append(f"{page.relative_to(html)}: links to {ref}")
    if check == "no solutions":     # the pages and the notebooks offered for download
        for page in pages(html) + sorted((html / "_sources").rglob("*.*")):
            text = page.read_text(encoding="utf-8")
            problems += [f"{page.relative_to(html)} contains {what!r}" for what in ("solutions/", "BEGIN SOLUTION")
                         if what in text]
    assert not problems, f"{len(problems)} problems ({check}):\n" + "\n".join(problems[:30])
    print(f"\n{check}: {len(pages(html))} pages checked")


# --------------------------------------------------------------------------- the API page (issue 13)

#: The pages of the site: the home page, the index, search, the API page, a page per lecture and per exercise.
PAGES = 4 + 2 * len(course.CHAPTERS)


def _article_text(page: Path) -> str:
    """The text of ``page``'s article, tags dropped, entities decoded, whitespace collapsed and
    Sphinx's curly quotes made straight again."""
    article = page.read_text(encoding="utf-8").split("<article", 1)[1].split(">", 1)[1].split("</article>", 1)[0]
    text = html_text.unescape(re.sub(r"<[^>]+>", "", article))
    return " ".join(text.translate(str.maketrans("‘’“”", "''\"\"")).split())


def _first_line(obj) -> str:
    """The first line of ``obj``'s docstring as the page shows it (roles and literals as text)."""
    line = inspect.getdoc(obj).splitlines()[0]
    line = re.sub(r":(func|meth):`~?([^`]+)`", r"\2()", line)
    line = re.sub(r":\w+:`~?([^`]+)`", r"\1", line).replace("``", "")
    return " ".join(line.split())


def _defined_in(module, name: str, obj) -> bool:
    """Whether ``name`` is a public function or class that ``module`` defines (not imports)."""
    return (not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module.__name__)


def runtime_definitions() -> dict[str, object]:
    """What the API page must document: ``ae_helpers.<name>`` for every name of ``__all__``
    and ``ae_helpers.<module>.<name>`` for every public function and class defined in one of
    the four modules."""
    found = {f"ae_helpers.{name}": getattr(ae_helpers, name) for name in ae_helpers.__all__}
    for module in (importlib.import_module(f"ae_helpers.{m}") for m in ae_helpers.MODULES):
        found.update({f"{module.__name__}.{name}": obj for name, obj in vars(module).items()
                      if _defined_in(module, name, obj)})
    return found


def instructor_names() -> set[str]:
    """The public functions and classes of ``ae_helpers.instructor`` whose names are not plain
    words (an underscore or a capital inside: ``release_repository``, ``ForkedKernelManager``)."""
    names = set()
    for info in pkgutil.iter_modules(ae_helpers.instructor.__path__):
        if info.name == "__main__":     # importing it runs the command line
            continue
        module = importlib.import_module(f"ae_helpers.instructor.{info.name}")
        names |= {name for name, obj in vars(module).items()
                  if _defined_in(module, name, obj) and ("_" in name or name[1:] != name[1:].lower())}
    return names


def api_page_problems(html: Path) -> list[str]:
    """What is wrong with the API page of the site built in ``html`` (empty: nothing)."""
    api = html / "api.html"
    if not api.is_file():
        return ["the site has no api.html"]
    problems = []
    if len(pages(html)) != PAGES:
        problems.append(f"{len(pages(html))} pages, not {PAGES}: {[str(p.relative_to(html)) for p in pages(html)]}")
    home = (html / "index.html").read_text(encoding="utf-8").split("<article", 1)[1]
    if not re.search(r'<a [^>]*href="api.html"', home):
        problems.append("the home page's text does not link api.html")
    ids, text = _parse(api).ids, _article_text(api)
    for name, obj in runtime_definitions().items():
        anchor = f"module-{name}" if inspect.ismodule(obj) else name
        if anchor not in ids:
            problems.append(f"{name} is not documented (no #{anchor})")
        if _first_line(obj) not in text:
            problems.append(f"{name}: its docstring's first line {_first_line(obj)!r} is not on the page")
    shown = {i.removeprefix("module-") for i in ids if i.startswith(("ae_helpers", "module-ae_helpers"))}
    extra = sorted(i for i in shown if i.split(".")[1:2] and i.split(".")[1] not in ae_helpers.__all__)
    problems += [f"{i} is documented but is not in ae_helpers.__all__" for i in extra]
    if "ae_helpers.instructor" in text:
        problems.append("the page names ae_helpers.instructor")
    problems += [f"the page names {name} of ae_helpers.instructor" for name in sorted(instructor_names())
                 if re.search(rf"\b{name}\b", text)]
    return problems


@pytest.mark.browser
@pytest.mark.notebooks
def test_api_page_documents_exactly_the_student_runtime(built):
    problems = api_page_problems(built[0])
    assert not problems, f"{len(problems)} problems with the API page:\n" + "\n".join(problems[:30])
    print(f"\napi.html documents {len(runtime_definitions())} names; {len(pages(built[0]))} pages")


# --------------------------------------------------------------------------- in the browser

@pytest.fixture(scope="module")
def served(built):
    """The address of a local HTTP server serving the built site."""
    handler = functools.partial(_QuietHandler, directory=str(built[0]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    reason = _missing()
    if reason:
        if REQUIRED:
            pytest.fail(f"{reason} (AE_REQUIRE_BROWSER=1: the browser test must run here)")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.binary_location = _find("chromium", "chromium-browser", "google-chrome")
    driver = webdriver.Chrome(options=options, service=Service(_find("chromedriver")))
    driver.set_script_timeout(60)
    shots = Path(os.environ.get("AE_BROWSER_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    driver.shots = shots
    yield driver
    driver.quit()


#: Per image of the page's article: [src, loaded, width, height, pixel variance] (variance of the
#: RGB values over the image drawn on a canvas; 0 for a blank image).
IMAGES_JS = """
return [...document.querySelectorAll('article img')].map(img => {
  if (!(img.complete && img.naturalWidth > 0)) return [img.src, false, 0, 0, 0];
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0, s = 0, s2 = 0;
  for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) { n++; s += d[i + k]; s2 += d[i + k] ** 2; }
  return [img.src, true, img.naturalWidth, img.naturalHeight, s2 / n - (s / n) ** 2];
});"""

#: Once MathJax has typeset the page: [math elements, typeset ones, text of the prose].
MATH_JS = """
const done = arguments[arguments.length - 1];
const report = () => {
  const maths = [...document.querySelectorAll('article .math')];
  const prose = document.querySelector('article').cloneNode(true);
  prose.querySelectorAll('pre, code, mjx-container, .cell_input, .output, script, style').forEach(e => e.remove());
  done([maths.length, maths.filter(m => m.querySelector('mjx-container')).length, prose.innerText]);
};
if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(report);
else report();"""

#: Output areas that report an error (tracebacks, stderr text naming an error), or show a
#: progress bar at 0 % (a widget's first frame where its end should be).
ERRORS_JS = """
return [...document.querySelectorAll('article .output')].filter(o =>
  o.classList.contains('traceback') || o.classList.contains('error') ||
  (o.classList.contains('stderr') && /Error|Traceback|Exception/.test(o.innerText)) ||
  / 0%\\|/.test(o.innerText)
).map(o => o.innerText.slice(0, 300));"""

RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\\[A-Za-z]{2,}\{")


def _check_lecture(driver, address: str, slug: str) -> int:
    """Open lecture ``slug``'s page and check it; returns how many figures it shows."""
    driver.get(f"{address}lectures/{slug}.html")
    images = driver.execute_script(IMAGES_JS)
    assert images, f"{slug}: the page shows no figure"
    bad = [i for i in images if not i[1] or i[4] <= 0]
    assert not bad, f"{slug}: figures not loaded or blank (src, loaded, w, h, variance): {bad}"
    total, typeset, prose = driver.execute_async_script(MATH_JS)
    assert total > 0 and typeset == total, f"{slug}: {typeset} of {total} maths typeset by MathJax"
    raw = sorted(set(RAW_TEX.findall(prose)))
    assert not raw, f"{slug}: raw TeX left in the text: {raw}"
    errors = driver.execute_script(ERRORS_JS)
    assert not errors, f"{slug}: error output on the page: {errors}"
    colab = driver.execute_script("return [...document.querySelectorAll('article a')].map(a => a.href)"
                                  ".filter(h => h.includes('colab.research.google.com'));")
    assert colab == [course.colab_url(f"lectures/{slug}.ipynb")], f"{slug}: Colab links {colab}"
    return len(images)


@pytest.mark.browser
@pytest.mark.notebooks
def test_lecture_pages_show_figures_maths_and_no_error(built, served, chromium):
    start = time.monotonic()
    figures = {slug: _check_lecture(chromium, served, slug) for slug in course.CHAPTERS}
    chromium.get(f"{served}lectures/06_vae_elbo.html")
    chromium.execute_async_script(MATH_JS)
    chromium.execute_script("document.querySelectorAll('article div.math')[1].scrollIntoView();")
    chromium.save_screenshot(str(chromium.shots / "site_lecture_06.png"))
    chromium.execute_script("document.querySelector('article img').scrollIntoView({block: 'center'});")
    chromium.save_screenshot(str(chromium.shots / "site_lecture_06_figure.png"))
    print(f"\n{len(pages(built[0]))} pages, {sum(figures.values())} figures on the 9 lecture pages "
          f"({figures}); checked in {time.monotonic() - start:.1f} s; screenshots in {chromium.shots}")


@pytest.mark.browser
@pytest.mark.notebooks
def test_home_page_is_the_course_map(served, chromium):
    chromium.get(served)
    links = chromium.execute_script("return [...document.querySelectorAll('article a')].map(a => a.href);")
    lectures = {h for h in links if re.search(r"/lectures/\d\d_\w+\.html$", h)}
    exercises = {h for h in links if re.search(r"/exercises/(\d\d_\w+)/\1\.html$", h)}
    n = len(course.CHAPTERS)
    assert len(lectures) == n and len(exercises) == n, (sorted(lectures), sorted(exercises))
    readme = set(re.findall(r"\((https://colab\.research\.google\.com/[^)]+)\)",
                            (course.ROOT / "README.md").read_text(encoding="utf-8")))
    assert len(readme) == 2 * n and readme == {h for h in links if "colab.research.google.com" in h}
    chromium.save_screenshot(str(chromium.shots / "site_home.png"))
    for slug in course.CHAPTERS:
        chromium.get(f"{served}exercises/{slug}/{slug}.html")
        colab = chromium.execute_script("return [...document.querySelectorAll('article a')].map(a => a.href)"
                                        ".filter(h => h.includes('colab.research.google.com'));")
        assert colab == [course.colab_url(f"exercises/{slug}/{slug}.ipynb")], f"exercise {slug}: {colab}"
        student = chromium.execute_script("const a = document.querySelector('article');"
                                          " return [a.querySelectorAll('.cell_output').length,"
                                          " /YOUR (CODE|ANSWER) HERE/.test(a.innerText)];")
        assert student == [0, True], f"exercise {slug} is not the unexecuted student copy: {student}"


@pytest.mark.parametrize("query, page", [("ELBO", "lectures/06_vae_elbo.html"), ("apply_in_batches", "api.html")])
@pytest.mark.browser
@pytest.mark.notebooks
def test_search_finds(served, chromium, query, page):
    chromium.get(f"{served}search.html?q={query}")
    deadline = time.monotonic() + 30
    found = []
    while time.monotonic() < deadline and not found:
        found = chromium.execute_script("return [...document.querySelectorAll('#search-results a')].map(a => a.href);")
        time.sleep(0.25)
    assert any(urlsplit(h).path == urlsplit(f"{served}{page}").path for h in found), found
