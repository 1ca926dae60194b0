"""Sphinx configuration of the course website (built by ``python site/build.py``).

The pages are notebooks read by myst-nb, never executed here: the lectures arrive executed,
the exercises are the student copies. MathJax is served from the build itself
(``sphinx-mathjax-offline``), so the site needs no internet to show its maths.
"""
project = "Autoencoders & latent spaces"
author = "the course authors"
html_title = project

extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx-mathjax-offline"]
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

html_theme = "sphinx_book_theme"
html_theme_options = {"home_page_in_toc": True, "show_toc_level": 2}
html_last_updated_fmt = None
