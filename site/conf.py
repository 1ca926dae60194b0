"""Sphinx configuration of the course website (built by ``python site/build.py``).

The pages are notebooks read by myst-nb, never executed here: the lectures arrive executed,
the exercises are the student copies. MathJax is served from the build itself
(``sphinx-mathjax-offline``), so the site needs no internet to show its maths. The API page
(``api.rst``, written by ``site/api_page.py``) is rendered by autodoc from the runtime's docstrings.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import docstrings  # noqa: E402  (site/docstrings.py, beside this file)

project = "Autoencoders & latent spaces"
author = "the course authors"
html_title = project

extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx-mathjax-offline", "sphinx.ext.autodoc"]
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]

nb_execution_mode = "off"
nb_merge_streams = True
# Widgets are not live on a static page: show the output's static record (image or text).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]
# ... and load no widget manager from a CDN (myst-nb's default where a notebook saved widget state).
nb_ipywidgets_js = {}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
# One API page: no separate Python module index page.
html_domain_indices = False

html_theme = "sphinx_book_theme"
html_theme_options = {"home_page_in_toc": True, "show_toc_level": 2}
html_last_updated_fmt = None


def setup(app):
    """The runtime's argument lines (``name: text``, indented continuation) as bullet items."""
    app.connect("autodoc-process-docstring", docstrings.process)
