"""Sphinx configuration of the scalinglab site.

``python -m scalinglab.site build`` copies this folder next to the pages it generates
(home, smoke test, catalogue, one page per executed notebook, methods) and runs Sphinx
on the result. Notebooks are never executed here: they come executed from ``make
record`` (results/<profile>/) and, for the smoke test, ``make reproduce PROFILE=ci``.
Everything a page loads (MathJax, fonts, scripts, styles) is served by the site itself.
"""
import os

project = "scalinglab"
author = "the scalinglab contributors"
html_show_copyright = False
html_title = "scalinglab"
release = os.environ.get("SCALINGLAB_VERSION", "")

extensions = ["myst_nb"]
exclude_patterns = ["_build", "_extra", "_generated", "**.ipynb_checkpoints"]
root_doc = "index"

# Notebooks arrive executed by papermill; rendering them must not run any code.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3

# MathJax from the site's own static files (copied from node_modules at build time).
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_extra_path = ["_extra"]
html_css_files = ["scalinglab.css"]
html_js_files = ["catalogue.js", "scalinglab.js"]
# the tab icon (browsers that ask for /favicon.ico get _extra/favicon.ico)
html_favicon = "_static/favicon.svg"
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_context = {"default_mode": "light"}
suppress_warnings = []
