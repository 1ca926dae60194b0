"""Build the course website: the course map, every lecture executed, every exercise.

    python site/build.py                  # execute the lectures (fast mode), then build
    python site/build.py --executed DIR   # take DIR/NN_slug.ipynb, already executed

The HTML lands in ``site/_build/html`` (open ``index.html``; ``--out`` chooses another
folder). Lectures are executed in fast mode by the same runner as the tests
(``tests/lecture_runner.py``, loaded from its file), on real Fashion-MNIST where
``../shared/data/fashion_mnist.npz`` or the data cache (``$AE_DATA_DIR``, else
``~/.cache/ae_course``) has it, else on the embedded stand-ins. Exercises are the student copies
of ``exercises/`` (never ``solutions/``), shown unexecuted. The page ``api.html`` is what a
notebook may call (``site/api_page.py``: the runtime's docstrings, through Sphinx's autodoc).
Sphinx with myst-nb then renders the notebooks as they are; nothing is fetched from the
internet, at build time or when reading.
"""
from __future__ import annotations

import argparse
import html
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

import api_page

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
DEFAULT_OUT = SITE / "_build" / "html"


def chapters() -> list[str]:
    """The chapter slugs, in course order (``ae_helpers.instructor.course.CHAPTERS``)."""
    from ae_helpers.instructor.course import CHAPTERS
    return list(CHAPTERS)


def course_map() -> str:
    """The README's "Course map" section (its table links ``lectures/…`` and ``exercises/…``,
    the same relative paths as the pages of the site, and the Colab addresses)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Course map", 1)[1]
    return "## Course map" + re.split(r"\n## ", section, maxsplit=1)[0]


def index_page() -> str:
    """Markdown of the home page: the README's opening sentences, the course map, a link to the
    API page, the toctrees."""
    intro = (ROOT / "README.md").read_text(encoding="utf-8").split("\n\n")[1]
    slugs = chapters()
    lectures = "\n".join(f"lectures/{s}" for s in slugs)
    exercises = "\n".join(f"exercises/{s}/{s}" for s in slugs)
    return (f"# Autoencoders & latent spaces\n\n{intro}\n\n{course_map()}\n\n"
            "Lectures are shown executed in fast mode; exercises are the student copies, to be run "
            "in JupyterLab or on Colab. "
            f"[{api_page.TITLE}]({api_page.NAME}.rst): the helpers of `ae_helpers` and their documentation.\n\n"
            f"```{{toctree}}\n:hidden:\n:caption: Lectures\n\n{lectures}\n```\n\n"
            f"```{{toctree}}\n:hidden:\n:caption: Exercises\n\n{exercises}\n```\n\n"
            f"```{{toctree}}\n:hidden:\n:caption: Reference\n\n{api_page.NAME}\n```\n")


def stage(source: Path, executed: Path) -> None:
    """Lay out the Sphinx source: ``index.md``, ``api.rst``, ``lectures/<slug>.ipynb`` (from
    ``executed``) and ``exercises/<slug>/<slug>.ipynb`` (the student copies), as in the repository."""
    if source.exists():
        shutil.rmtree(source)
    (source / "lectures").mkdir(parents=True)
    (source / "index.md").write_text(index_page(), encoding="utf-8")
    (source / f"{api_page.NAME}.rst").write_text(api_page.page(), encoding="utf-8")
    for slug in chapters():
        lecture = executed / f"{slug}.ipynb"
        if not lecture.exists():
            raise SystemExit(f"no executed lecture {lecture}")
        nb = nbformat.read(lecture, as_version=4)
        settle_progress_bars(nb)
        nbformat.write(nb, source / "lectures" / f"{slug}.ipynb")
        (source / "exercises" / slug).mkdir(parents=True)
        shutil.copy(ROOT / "exercises" / slug / f"{slug}.ipynb", source / "exercises" / slug / f"{slug}.ipynb")


def _tqdm_text(state: dict, model_id: str) -> str | None:
    """The last frame of the tqdm widget ``model_id`` as text (``desc: 100%|██████████| 5/5 […]``),
    read from the widget state saved with the notebook; None for another kind of widget."""
    box = state.get(model_id, {})
    kids = [state.get(ref.removeprefix("IPY_MODEL_"), {}) for ref in box.get("state", {}).get("children", [])]
    if box.get("model_name") != "HBoxModel" or [k.get("model_name") for k in kids] != [
            "HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (k["state"] for k in kids)
    filled = int(10 * bar.get("value", 0) / (bar.get("max") or 1))
    text = f"{left.get('value', '')}|{'█' * filled}{' ' * (10 - filled)}|{right.get('value', '')}"
    return html.unescape(text).replace("\u2007", " ")


def settle_progress_bars(nb) -> None:
    """Give each tqdm widget output of ``nb`` its final frame as text. A static page cannot run
    widgets; the text tqdm saves beside a widget is its first frame (0 %), not its last."""
    saved = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            text = view and _tqdm_text(saved.get("state", {}), view.get("model_id", ""))
            if text:
                output["data"]["text/plain"] = text


def _lecture_runner():
    """``tests/lecture_runner.py`` as a module, loaded from its file (no change to sys.path)."""
    spec = importlib.util.spec_from_file_location("lecture_runner", ROOT / "tests" / "lecture_runner.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("lecture_runner", module)
    spec.loader.exec_module(module)
    return module


def data_folder(folder: Path) -> tuple[Path, str]:
    """A data folder holding (as links) the data cache's files and ``../shared/data``'s
    Fashion-MNIST; returns it and the runner's variant ('real' when Fashion-MNIST is there)."""
    from ae_helpers.config import data_dir
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(data_dir().glob("*.npz")) if data_dir().is_dir() else []
    shared = ROOT.parent / "shared" / "data" / "fashion_mnist.npz"
    for source in sources + ([shared] if shared.exists() else []):
        if not (folder / source.name).exists():
            (folder / source.name).symlink_to(source.resolve())
    return folder, "real" if (folder / "fashion_mnist.npz").exists() else "stand-in"


def execute_lectures(target: Path) -> Path:
    """Execute every lecture in fast mode into ``target/<slug>.ipynb``; stop on a failed cell."""
    runner = _lecture_runner()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder, variant = data_folder(Path(scratch) / "data")
        print("executing the lectures in fast mode on " + ("Fashion-MNIST" if variant == "real" else
              "the data sets they name where cached, else their stand-ins"))
        for slug in chapters():
            start = time.monotonic()
            run = runner.run(ROOT / "lectures" / f"{slug}.ipynb", variant, folder, strict=False, figures=True)
            if run.error:
                raise SystemExit(f"{slug} failed:\n{run.error}")
            failed = run.failed_claims()
            print(f"  {slug}: {time.monotonic() - start:.0f} s, {len(run.claims) - len(failed)}/{len(run.claims)} "
                  f"claims hold{'; NOT: ' + '; '.join(failed) if failed else ''}", flush=True)
            nbformat.write(run.notebook, target / f"{slug}.ipynb")
    return target


def sphinx_build(source: Path, out: Path, doctrees: Path) -> None:
    """Run sphinx-build (HTML, warnings shown) with ``site/conf.py``."""
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(SITE), "-d", str(doctrees),
           str(source), str(out)]
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executed", type=Path, help="folder of executed lectures (<slug>.ipynb); "
                        "without it the lectures are executed now")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"HTML folder (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    start = time.monotonic()
    work = args.out.resolve().parent
    executed = args.executed or execute_lectures(work / "executed")
    stage(work / "source", executed)
    sphinx_build(work / "source", args.out, work / "doctrees")
    print(f"site built in {time.monotonic() - start:.0f} s: {args.out / 'index.html'}")
    return args.out


if __name__ == "__main__":
    main()
