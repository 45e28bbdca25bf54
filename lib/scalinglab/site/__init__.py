"""The static site: a home page with the scorecard, the catalogue, one page per paper
(the executed notebook) and the methods pages, built with Sphinx from the notebooks
under ``build/notebooks/<profile>/``. ``python -m scalinglab.site build|serve``."""
from scalinglab.site.catalogue import Paper, load_catalogue

__all__ = ["Paper", "load_catalogue"]
