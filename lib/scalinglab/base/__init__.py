"""The base layer: what every other package of the library may use.

* ``paths``: the project root, the build folder and the shared run cache;
* ``profiles``: compute profiles, devices and parameter validation (``ParameterError``);
* ``perturb``: the stability check's deliberate floating-point perturbation;
* ``progress``: progress bars that keep stored notebook outputs clean;
* ``provenance``: what code, packages and machine produced a result;
* ``plotting``: the suite's plot style, log-log helpers and figure saving.

These modules import nothing else of ``scalinglab`` (only each other, the standard
library and third-party packages), so any layer above can import them without a cycle:
base -> fit, models -> data -> train -> sweep -> theory -> repro -> site -> the
``scalinglab`` package and its command line. Import the submodules themselves
(``from scalinglab.base import paths``); this file loads none of them, so importing it
costs nothing (``plotting`` alone imports matplotlib).
"""

__version__ = "0.1.0"  # the package version (``scalinglab.__version__``, `scalinglab --version`); pyproject.toml reads it here
