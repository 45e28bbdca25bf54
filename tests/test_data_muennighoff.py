"""scalinglab.data.muennighoff: reading runs typed inline in the datablations notebook."""
import json

import pytest

from scalinglab.data import muennighoff

CELL = '''### DATA POINTS ###
NAMES_TO_VAL_LOSSES = {
    #"2b84b4b": 3.265024E+00,
    "2b832b4b": 2.722962E+00,
    "2b855b1b25": 3.422766E+00,
    "8b7178b178b": 2.336741E+00,
    "7m100m100m": 8.102005E+00, # comment
    "1b1100m100m": 6.611002E+00,
    "4b284b12bdedup": 2.5,
    "4b284b17b": 0,
}
TOKENS_MAP = {"100m": 0.1, "1b25": 1.25, "178b": 178}
PARAMS_MAP = {"7m": 7.098752E+06, "1b1": 1.0963E+09, "2b8": 2.81E+09, "4b2": 4.2465E+09, "8b7": 8.67E+09}
'''


def test_cell_literals_skip_comments():
    lit = muennighoff.cell_literals(CELL)
    assert "2b84b4b" not in lit["NAMES_TO_VAL_LOSSES"]
    assert lit["TOKENS_MAP"]["1b25"] == 1.25
    assert lit["PARAMS_MAP"]["8b7"] == 8.67e9


def test_cell_literals_missing():
    with pytest.raises(ValueError, match="PARAMS_MAP"):
        muennighoff.cell_literals("NAMES_TO_VAL_LOSSES = {}\nTOKENS_MAP = {}\n")


def test_cell_literals_run_no_code():
    # a call is not a literal: literal_eval refuses it instead of running it
    with pytest.raises(ValueError):
        muennighoff.cell_literals("NAMES_TO_VAL_LOSSES = dict()\nTOKENS_MAP = {}\nPARAMS_MAP = {}\n")


@pytest.mark.parametrize("name, expected", [
    ("2b832b4b", (2.81e9, 32e9, 4e9)),
    ("2b855b1b25", (2.81e9, 55e9, 1.25e9)),
    ("8b7178b178b", (8.67e9, 178e9, 178e9)),
    ("7m100m100m", (7.098752e6, 0.1e9, 0.1e9)),
    ("1b1100m100m", (1.0963e9, 0.1e9, 0.1e9)),
])
def test_decode_name(name, expected):
    lit = muennighoff.cell_literals(CELL)
    got = muennighoff.decode_name(name, lit["TOKENS_MAP"], lit["PARAMS_MAP"])
    assert got == pytest.approx(expected, rel=1e-12)


def test_decode_name_unknown_prefix():
    with pytest.raises(ValueError, match="PARAMS_MAP"):
        muennighoff.decode_name("9z9", {}, {"7m": 1.0})


def test_runs_skip_unfinished_and_dedup():
    rows = muennighoff.runs_from_source(CELL)
    names = [r["name"] for r in rows]
    assert names == ["2b832b4b", "2b855b1b25", "8b7178b178b", "7m100m100m", "1b1100m100m"]
    assert rows[0]["loss"] == 2.722962


def test_runs_from_notebook(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": ["x"]},
                    {"cell_type": "code", "source": CELL.splitlines(keepends=True)}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    df = muennighoff.runs_from_notebook(path, cell=1)
    assert list(df.columns) == ["name", "N", "D", "U", "loss"]
    assert len(df) == 5
    assert df.D.iloc[2] == 178e9
