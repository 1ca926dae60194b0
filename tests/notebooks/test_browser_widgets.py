"""The latent explorer's sliders, live in a real JupyterLab in headless Chromium (issue 15).

A scratch notebook (in the served root's scratch folder) calls ``plot.latent_explorer`` on a
fake decoder whose image is one grey level, sigmoid(3·(z1 − z2)): 0.5 at the start (0, 0),
brighter as z1 grows. Run in JupyterLab as the README starts it (test_browser.py's fixtures),
the cell shows the static figure and the two sliders with their image; pressing → on the
z1 slider's handle moves it, and the kernel sends a new image, brighter where the decoded
image sits. Selected with ``-m browser``; skipped or failing like test_browser.py. About 40 s
here (JupyterLab and Chromium start once for this module: about 15 s of it).
"""
from __future__ import annotations

import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ae_helpers.instructor import course

from test_browser import CURRENT, browser, evidence, lab, open_notebook, run_all, shots, wait_for  # noqa: F401

pytestmark = pytest.mark.browser

SOURCE = """import torch
from ae_helpers import plot
plot.latent_explorer(lambda z: torch.sigmoid(3 * (z[:, :1] - z[:, 1:])).expand(-1, 64), (8, 8), span=2)"""

# What the explorer's cell shows: every <img> of its outputs (inside a widget or not), the
# sliders' readouts, and whether any widget failed to display.
EXPLORER_STATE = CURRENT + """
const imgs = [...w.node.querySelectorAll('.jp-OutputArea-output img')];
const bright = (img) => {      // mean red level of a 10×10 patch at (80 %, 50 %) of the image
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const d = g.getImageData(Math.floor(0.8 * c.width) - 5, Math.floor(0.5 * c.height) - 5, 10, 10).data;
  let s = 0;
  for (let i = 0; i < d.length; i += 4) s += d[i];
  return s / (d.length / 4);
};
return {
  static: imgs.filter(i => !i.closest('.jupyter-widgets')).map(i => i.complete && i.naturalWidth > 0),
  live: imgs.filter(i => i.closest('.jupyter-widgets') && i.complete && i.naturalWidth > 0)
            .map(i => [i.src, bright(i)]),
  readouts: [...w.node.querySelectorAll('.widget-slider .widget-readout')].map(e => e.innerText.trim()),
  errors: /Error displaying widget/.test(w.node.innerText),
};"""


def when(condition: str) -> str:
    """A script returning EXPLORER_STATE once ``condition`` (JavaScript on ``s``) holds, else false."""
    return "const s = (() => {" + EXPLORER_STATE + "})(); return (" + condition + ") && s;"


def test_moving_a_slider_redraws_the_decoded_image(lab, browser):
    copy = lab.work / "widgets" / "explore.ipynb"
    copy.parent.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell(SOURCE)], metadata=course.NOTEBOOK_METADATA), copy)
    path = lab.rel(copy)
    with evidence(browser, lab, "widgets-slider"):
        open_notebook(browser, lab, path)
        start = time.monotonic()
        assert run_all(browser, path) is True
        wait_for(browser, f"{CURRENT} return w.node.querySelectorAll('.widget-slider').length === 2 &&"
                 " w.node.querySelectorAll('.jupyter-widgets img').length === 1;", 30, "the two sliders and their image")
        before = wait_for(browser, when("s.live.length === 1"), 15, "the live image to load")
        assert before["static"] == [True], f"the static figure is missing or not loaded: {before}"
        assert before["readouts"] == ["0.00", "0.00"] and not before["errors"], before
        assert abs(before["live"][0][1] - 255 * 0.5) < 20, f"the start image is not mid-grey: {before}"
        handle = browser.find_elements("css selector", ".widget-slider .noUi-handle")[0]
        handle.click()
        from selenium.webdriver.common.keys import Keys
        for _ in range(10):
            handle.send_keys(Keys.ARROW_RIGHT)
        # sigmoid(3 · 0.4) = 0.77: the decoded image at the slider's point, not the start's 0.5 (frames of
        # the points between may arrive first)
        want = 255 * 0.77
        after = wait_for(browser, when(f"s.readouts[0] === '0.40' && s.live.length === 1 && Math.abs(s.live[0][1] - {want}) < 20"),
                         30, "the slider at 0.40 and its decoded image")
        browser.execute_script(CURRENT + "w.node.querySelector('.jupyter-widgets img').scrollIntoView({block: 'end'});")
        browser.shot("widgets-slider-moved")
        assert after["live"][0][0] != before["live"][0][0] and abs(after["live"][0][1] - want) < 20, (before, after)
        assert not after["errors"]
        print(f"explorer: ran, moved and redrawn in {time.monotonic() - start:.1f} s")
