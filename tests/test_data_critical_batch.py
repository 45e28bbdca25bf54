"""The Zhang et al. 2024 critical-batch notebook reader, on small inline excerpts (no
network, nothing executed)."""
from __future__ import annotations

import ast
import json

import pytest

from scalinglab.data import critical_batch as cb

FIT_SOURCE = '''results = {'85M': [46000, 23000, 13282, 7000], '1.2B': [642000, 331000, 176000, 94000]}

import numpy as np
from scipy.optimize import curve_fit, fsolve

scaling_law_model_sizes = [85, 1200]
model_size_names = ['85M', '1.2B']
batch_sizes = [2**i for i in range(6, 10)]
for model_size in model_size_names:
    a, b = 1.0, 2.0
    alpha = 1
    cbs = fsolve(lambda cbs: b - 5*a*cbs**alpha+5*a*1.2*256, 3)[0] # b - 5*a*cbs**alpha
    # cbs = fsolve(lambda cbs: b - 5*a*cbs-5*a*1.2*256, 3)[0] #
'''

FIT_OUTPUT = """Model Size: 85M
[64, 128, 256, 512]
[46000, 23000, 13282, 7000]
fitted log(Y) = log(1293.8268694659337 + 2834258.0888740215 * batch_size^(-1))
Critical batch size: 745.3201466381583 (log2: 9.541716447236483)
Model Size: 1.2B
fitted log(Y) = log(3897.306597333535 + 43381130.22429582 * batch_size^(-1))
Critical batch size: 2533.4108017868743 (log2: 11.306865318935946)
[85, 1200]
CBS log power law fitting (constrained): fitted log(cbs) = log(2.4064776102917847e-15 + 93.19681534219724 * model_size^(0.46827823044749944))
CBS power law fitting (zero offset): fitted cbs = 99.50589771578768 * model_size^(0.4576414449178614)
CBS power law fitting (zero offset, log-scale): fitted log(cbs) = log(93.196814043949 * model_size^(0.4682782328130422))
"""

SETUP_SOURCE = '''batch_sizes = [2**i for i in range(6, 15)]
goal_losses = {'85M': 3.42, '1.2B': 2.736}
goal_steps = {'85M': 13282, '1.2B': 187500}
for model_size in model_size_names:
    for batch_size in batch_sizes:
        conditions = [{"group": f"cbs-{model_size}"}, {"config.global_train_batch_size": batch_size},
                      {"config.model.max_sequence_length": 512}]
'''

QUERY_OUTPUT = "{'85M': [46000, 23000, 13282, 7000], '1.2B': [643000, 331000, 176000, 94000]}\n"


def notebook(tmp_path):
    cells = [{"cell_type": "code", "source": "", "outputs": []} for _ in range(6)]
    cells[1]["source"] = SETUP_SOURCE.splitlines(keepends=True)
    cells[2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": QUERY_OUTPUT}]
    cells[5]["source"] = FIT_SOURCE.splitlines(keepends=True)
    cells[5]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": FIT_OUTPUT.splitlines(keepends=True)},
                           {"output_type": "stream", "name": "stderr", "text": "RuntimeWarning: ...\n"}]
    path = tmp_path / "chinchilla.ipynb"
    path.write_text(json.dumps({"cells": cells, "nbformat": 4}))
    return cb.read_notebook(path)


def test_fit_cell_data_reads_literals_and_the_batch_comprehension():
    data = cb.fit_cell_data(FIT_SOURCE)
    assert data["batch_sizes"] == [64, 128, 256, 512]
    assert data["model_size_names"] == ["85M", "1.2B"]
    assert data["scaling_law_model_sizes"] == [85, 1200]
    assert data["results"]["1.2B"][0] == 642000


def test_fit_cell_data_refuses_mismatched_rows():
    bad = FIT_SOURCE.replace("[46000, 23000, 13282, 7000]", "[46000, 23000]")
    with pytest.raises(ValueError, match="2 step counts for 4 batch sizes"):
        cb.fit_cell_data(bad)


def test_cbs_rule_is_b_over_5a_plus_shift():
    rule = cb.cbs_rule(FIT_SOURCE)
    assert rule["divisor"] == pytest.approx(5.0)
    assert rule["shift"] == pytest.approx(1.2 * 256)


def test_cbs_rule_refuses_code_that_is_not_arithmetic():
    with pytest.raises(ValueError, match="not plain arithmetic"):
        cb.cbs_rule("cbs = fsolve(lambda c: b - 5*a*c + os.system('x'), 3)")
    with pytest.raises(ValueError, match="one fsolve"):
        cb.cbs_rule("x = 1")


def test_arithmetic_evaluator_knows_only_given_names():
    assert cb.arithmetic(ast.parse("2**3 - 1.5*a", mode="eval"), {"a": 2}) == 5.0
    with pytest.raises(ValueError):
        cb.arithmetic(ast.parse("b + 1", mode="eval"), {"a": 2})


def test_printed_fits():
    fits = cb.printed_fits(FIT_OUTPUT)
    assert fits["stage1"]["85M"] == {"a": 1293.8268694659337, "b": 2834258.0888740215,
                                     "cbs": 745.3201466381583}
    assert fits["stage1"]["1.2B"]["cbs"] == pytest.approx(2533.4108)
    assert fits["log"] == {"coefficient": 93.196814043949, "exponent": 0.4682782328130422}
    assert fits["linear"] == {"coefficient": 99.50589771578768, "exponent": 0.4576414449178614}
    with pytest.raises(ValueError, match="lacks"):
        cb.printed_fits("Model Size: 85M\n")


def test_setup_cell_data():
    setup = cb.setup_cell_data(SETUP_SOURCE)
    assert setup["goal_steps"] == {"85M": 13282, "1.2B": 187500}
    assert setup["goal_losses"]["1.2B"] == 2.736
    assert setup["sequence_length"] == 512


def test_tables_and_query_output(tmp_path):
    nb = notebook(tmp_path)
    assert cb.cell_output_text(nb, 5).startswith("Model Size: 85M")   # stdout only
    assert "RuntimeWarning" not in cb.cell_output_text(nb, 5)
    steps = cb.steps_table(nb)
    assert list(steps.columns) == ["model", "N_millions", "batch", "steps"]
    assert len(steps) == 8 and steps.batch.tolist()[:4] == [64, 128, 256, 512]
    models = cb.models_table(nb, reference_batch=256)
    assert models.tokens.tolist() == [13282 * 256 * 512, 187500 * 256 * 512]
    assert cb.queried_results(cb.cell_output_text(nb, 2))["1.2B"][0] == 643000
