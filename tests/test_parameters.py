"""Declared notebook parameters: the grammar of a parameters cell, value checks, the
command-line form, and the check ``sl.start`` makes against ``notebooks/<paper>.ipynb``."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import scalinglab as sl
from scalinglab.base.profiles import ParameterError
from scalinglab.repro.parameters import (
    DeclarationError, Parameter, check_paper_namespace, notebook_parameters, parse_assignment,
    parse_declarations, validate,
)

ROOT = Path(__file__).resolve().parents[1]

CELL = '''\
profile: str = "ci"  # ci|cpu|gpu: how much compute to spend
device: str = "auto"  # auto|cpu|cuda|mps
seed: int = 0  # >= 0: seed for every random number generator
workers: int = 1  # > 0: parallel workers (here: bootstrap processes)
out_dir: str = "build/lab"  # figures and claims (relative paths start at the project root)
bootstrap: int = 1000  # >= 20: bootstrap resamples
probe_angle_deg: float = 10.0  # in [0, 90): angle of the probe, in degrees
alpha: float = 2.0  # > 1: Zipf exponent
temperature: float = 0.5  # < 1: softmax temperature
dropout: float = 0.1  # <= 0.5
width: int = 4  # 1|2|4|8: width multiplier
frac: float = 0.5  # in (0, 1]: kept fraction
lr: float = 0.01  # in (0, 1): learning rate
mix: float = 0.0  # in [0, 1]: mixing weight
compile: bool = False  # compile the model with torch.compile
note: str = ""
'''


@pytest.fixture
def declared():
    return parse_declarations(CELL)


def test_every_spec_form_is_read(declared):
    assert list(declared) == ["profile", "device", "seed", "workers", "out_dir", "bootstrap",
                              "probe_angle_deg", "alpha", "temperature", "dropout", "width",
                              "frac", "lr", "mix", "compile", "note"]
    p = declared["profile"]
    assert (p.type, p.default, p.choices, p.help) == ("str", "ci", ("ci", "cpu", "gpu"),
                                                      "how much compute to spend")
    assert declared["device"].choices == ("auto", "cpu", "cuda", "mps") and declared["device"].help == ""
    assert declared["workers"].help == "parallel workers (here: bootstrap processes)"
    assert declared["out_dir"].choices is None and declared["out_dir"].lower is None
    assert declared["out_dir"].help.startswith("figures and claims")
    assert declared["width"].choices == (1, 2, 4, 8)
    assert declared["compile"].help == "compile the model with torch.compile"
    assert declared["note"].help == "" and declared["note"].default == ""
    allowed = {name: p.allowed() for name, p in declared.items()}
    assert allowed["seed"] == "be >= 0" and allowed["workers"] == "be > 0"
    assert allowed["temperature"] == "be < 1" and allowed["dropout"] == "be <= 0.5"
    assert allowed["probe_angle_deg"] == "lie in [0, 90)"
    assert allowed["frac"] == "lie in (0, 1]" and allowed["lr"] == "lie in (0, 1)"
    assert allowed["mix"] == "lie in [0, 1]"
    assert allowed["profile"] == "be one of 'ci', 'cpu', 'gpu'"


@pytest.mark.parametrize("name, value, message", [
    ("bootstrap", -3, "bootstrap=-3 must be >= 20"),
    ("probe_angle_deg", 500, "probe_angle_deg=500 must lie in [0, 90)"),
    ("probe_angle_deg", 90, "probe_angle_deg=90 must lie in [0, 90)"),
    ("probe_angle_deg", -0.5, "probe_angle_deg=-0.5 must lie in [0, 90)"),
    ("frac", 0, "frac=0 must lie in (0, 1]"),
    ("lr", 1.0, "lr=1.0 must lie in (0, 1)"),
    ("mix", 1.5, "mix=1.5 must lie in [0, 1]"),
    ("alpha", 1, "alpha=1 must be > 1"),
    ("temperature", 1, "temperature=1 must be < 1"),
    ("dropout", 0.6, "dropout=0.6 must be <= 0.5"),
    ("workers", 0, "workers=0 must be > 0"),
    ("profile", "huge", "profile='huge' must be one of 'ci', 'cpu', 'gpu'"),
    ("width", 3, "width=3 must be one of 1, 2, 4, 8"),
    ("bootstrap", "many", "bootstrap='many' must be an integer"),
    ("bootstrap", 20.5, "bootstrap=20.5 must be an integer"),
    ("bootstrap", True, "bootstrap=True must be an integer"),
    ("bootstrap", None, "bootstrap=None must be an integer"),
    ("alpha", "2", "alpha='2' must be a number"),
    ("alpha", False, "alpha=False must be a number"),
    ("alpha", float("nan"), "alpha=nan must be a number, not NaN"),
    ("probe_angle_deg", float("inf"), "probe_angle_deg=inf must lie in [0, 90)"),
    ("compile", 1, "compile=1 must be True or False"),
    ("compile", "maybe", "compile='maybe' must be True or False"),
    ("out_dir", 3, "out_dir=3 must be a string"),
])
def test_bad_values_are_one_line_naming_parameter_value_and_what_is_allowed(declared, name, value, message):
    with pytest.raises(ParameterError) as err:
        validate(declared, {name: value})
    assert str(err.value) == message


def test_good_values_are_converted_to_the_declared_type(declared):
    out = validate(declared, {"bootstrap": 200.0, "alpha": 3, "probe_angle_deg": 0,
                              "compile": "True", "width": 8.0, "seed": np.int64(5),
                              "mix": np.float64(0.25), "note": "x"})
    assert out == {"bootstrap": 200, "alpha": 3.0, "probe_angle_deg": 0.0, "compile": True,
                   "width": 8, "seed": 5, "mix": 0.25, "note": "x"}
    assert type(out["bootstrap"]) is int and type(out["alpha"]) is float
    assert type(out["seed"]) is int
    assert validate(declared, {"compile": np.bool_(True)}) == {"compile": True}
    assert validate(declared, {"compile": "false"}) == {"compile": False}
    assert validate(declared, {}) == {}


def test_unknown_names_list_the_declared_ones(declared):
    with pytest.raises(ParameterError) as err:
        validate(declared, {"bootstap": 5}, owner="bahri2021_explaining")
    msg = str(err.value)
    assert msg.startswith("bahri2021_explaining: unknown parameter 'bootstap'; declared: profile, device")
    assert "bootstrap" in msg and "\n" not in msg


def test_owner_prefixes_value_errors(declared):
    with pytest.raises(ParameterError, match=r"^x2020_y: bootstrap=-3 must be >= 20$"):
        validate(declared, {"bootstrap": -3}, owner="x2020_y")


@pytest.mark.parametrize("line, message", [
    ("x = 1  # help", "line 1: `x = 1  # help` is not a declaration"),
    ("x: int  # help", "x has no default"),
    ("x: list = []  # help", "x has type list; the type must be int, float, str or bool"),
    ("x: int | None = None  # help", "the type must be int, float, str or bool"),
    ("x: int = 2 ** 10  # help", "the default of x (2 ** 10) must be a literal"),
    ("x: int = 3  # >= ten: help", "x: cannot read the spec '>= ten'"),
    ("x: float = 3.0  # in [0, 9: help", "x: cannot read the spec 'in [0, 9'"),
    ("x: float = 3.0  # in [5, 1]: help", "x: the interval [5, 1] is empty"),
    ("x: float = 3.0  # in (1, 1]: help", "the interval (1, 1] is empty"),
    ("x: str = 'a'  # >= 1: help", "x: a str parameter takes no bound or interval"),
    ("x: bool = True  # True|False: help", "x: a bool parameter takes no choices"),
    ("x: int = 1  # 1|two|3: help", "x: the choices 1|two|3 are not all of type int"),
    ("x: str = 'a'  # a|b|a: help", "the choices a|b|a repeat a value"),
    ("x: int = 5  # >= 20: help", "the default x=5 must be >= 20"),
    ("x: str = 'd'  # a|b|c: help", "the default x='d' must be one of 'a', 'b', 'c'"),
    ("x: int = 1.5  # help", "the default x=1.5 must be an integer"),
    ("x: bool = 1  # help", "the default x=1 must be True or False"),
    ("x: int = 1  # a\nx: int = 2  # b", "line 2: x is declared twice"),
    ("x: int = (1  # help", "line 1: not valid Python"),
    ("print('hi')", "`print('hi')` is not a declaration"),
    ("x.y: int = 1", "is not a declaration"),
])
def test_malformed_declarations_are_clear_one_line_errors(line, message):
    with pytest.raises(DeclarationError) as err:
        parse_declarations(line, where="demo2020_x, parameters cell")
    msg = str(err.value)
    assert msg.startswith("demo2020_x, parameters cell line ")
    assert message in msg and "\n" not in msg


def test_comments_blank_lines_and_help_with_colons_are_fine():
    src = ("# the knobs of this notebook\n\n"
           "alpha: float = 1.0  # > 0: exponent: eigenvalue I falls as I^-(1+alpha)\n"
           "name: str = 'a'  # note: a colon in help text is not a spec\n"
           "n: int = 3  # in [1, 10]\n"
           "big: float = 1e6  # >= 1e3: scale\n"
           "neg: int = -2  # in [-5, -1]: negative\n")
    d = parse_declarations(src)
    assert d["alpha"].lower == 0 and not d["alpha"].lower_closed
    assert d["alpha"].help == "exponent: eigenvalue I falls as I^-(1+alpha)"
    assert d["name"].choices is None and d["name"].help == "note: a colon in help text is not a spec"
    assert (d["n"].lower, d["n"].upper, d["n"].help) == (1, 10, "")
    assert d["big"].lower == 1000.0 and d["neg"].default == -2
    assert validate(d, {"neg": -5}) == {"neg": -5}


def test_quoted_string_choices_and_float_choices():
    d = parse_declarations("mode: str = 'a'  # 'a'|\"b\": mode\nr: float = 0.5  # 0.5|1|2: ratio\n")
    assert d["mode"].choices == ("a", "b")
    assert d["r"].choices == (0.5, 1.0, 2.0)
    assert validate(d, {"r": 1}) == {"r": 1.0}


def test_every_paper_notebook_declares_its_parameters():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        declared = notebook_parameters(path)
        for name in ("profile", "device", "seed", "executor", "workers", "out_dir"):
            assert name in declared, (path.name, name)
        assert declared["profile"].choices == ("ci", "cpu", "gpu")


def test_a_notebook_without_parameters_cell_is_an_error(tmp_path):
    path = tmp_path / "x2020_y.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}))
    with pytest.raises(DeclarationError, match="x2020_y.ipynb has no code cell tagged 'parameters'"):
        notebook_parameters(path)


@pytest.mark.parametrize("text, expected", [
    ("bootstrap=200", ("bootstrap", 200)),
    ("probe_angle_deg=5", ("probe_angle_deg", 5)),
    ("alpha=1.5e0", ("alpha", 1.5)),
    ("device=cpu", ("device", "cpu")),
    ("name='a b'", ("name", "a b")),
    ("flag=True", ("flag", True)),
    ("out = build/x", ("out", "build/x")),
    ("empty=", ("empty", "")),
])
def test_command_line_assignments(text, expected):
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["bootstrap", "=3", "2x=1", "a-b=1"])
def test_malformed_command_line_assignments(text):
    with pytest.raises(ParameterError, match="must look like name=value"):
        parse_assignment(text)


def test_parameter_check_directly():
    p = Parameter(name="k", type="int", default=1, lower=1, upper=5, upper_closed=False)
    assert p.check(4.0) == 4 and p.allowed() == "lie in [1, 5)"
    with pytest.raises(ParameterError, match=r"^k=5 must lie in \[1, 5\)$"):
        p.check(5)
    assert math.isinf(Parameter(name="x", type="float", default=1.0).check(float("inf")))


# -- sl.start checks the values a notebook holds against its declarations ------------

@pytest.fixture
def project(tmp_path, fixture_notebooks, monkeypatch):
    shutil.copytree(fixture_notebooks, tmp_path / "notebooks")
    monkeypatch.setenv("SCALINGLAB_ROOT", str(tmp_path))
    return tmp_path


def test_start_rejects_a_declared_parameter_out_of_range(project):
    with pytest.raises(ParameterError, match=r"^bootstrap=-3 must be >= 20$"):
        sl.start("fixture2020_good", out_dir="build/lab", params={"bootstrap": -3})
    with pytest.raises(ParameterError, match=r"^probe_angle_deg=500 must lie in \[0, 90\)$"):
        sl.start("fixture2020_good", out_dir="build/lab", params={"probe_angle_deg": 500})
    run = sl.start("fixture2020_good", out_dir="build/lab",
                   params={"bootstrap": 200, "probe_angle_deg": 5, "unrelated": object()})
    assert run.paper == "fixture2020_good"


def test_start_reads_the_notebook_namespace(project):
    # as in JupyterLab after editing the parameters cell to `bootstrap = -3`
    namespace = {"sl": sl, "profile": "ci", "bootstrap": -3, "probe_angle_deg": 10.0}
    code = "run = sl.start('fixture2020_good', profile=profile, out_dir='build/lab')"
    with pytest.raises(ParameterError, match=r"^bootstrap=-3 must be >= 20$"):
        exec(code, namespace)
    namespace["bootstrap"] = 100
    exec(code, namespace)
    assert namespace["run"].profile == "ci"


def test_start_skips_notebooks_outside_notebooks_folder(project):
    check_paper_namespace("mine2024_private", {"bootstrap": -3})  # no such notebook: no check
    namespace = {"sl": sl, "bootstrap": -3}
    exec("run = sl.start('mine2024_private', out_dir='build/lab')", namespace)
    assert namespace["run"].paper == "mine2024_private"
