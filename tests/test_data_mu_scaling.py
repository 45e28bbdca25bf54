"""The Mu-scaling fit-script parser, on small inline scripts (no network, nothing run)."""
import pytest

from scalinglab.data import mu_scaling

SCRIPT = '''from scipy.optimize import curve_fit
import numpy as np

# model widths
shapes = [128, 256, 384, 512]
# number of parameters in millions
x = [8.53, 21.56, 39.09, 61.12]
# training loss
train_loss = [3.9181,3.6054,3.4431, 3.3542]

y = np.array(train_loss)
x_sample = range(int(min(x)) - 1,int(max(x)) + 5,1)

def func(x, a, b,c):
    return a * np.power(x, b) + c

num_pred=1
popt, perr, yvals = curve_fit_one_line(x, y, num_pred, x_sample)
'''


def test_reads_the_literal_lists():
    df = mu_scaling.script_data(SCRIPT)
    assert list(df.columns) == ["width", "params_M", "N", "loss", "held_out"]
    assert df.width.tolist() == [128, 256, 384, 512]
    assert df.params_M.tolist() == [8.53, 21.56, 39.09, 61.12]
    assert df.N.tolist() == pytest.approx([8.53e6, 21.56e6, 39.09e6, 61.12e6])
    assert df.loss.tolist() == [3.9181, 3.6054, 3.4431, 3.3542]
    assert df.held_out.tolist() == [False, False, False, True]


def test_skips_non_literals_and_runs_nothing():
    found = mu_scaling.literal_assignments(SCRIPT + "\nboom = __import__('os').system('false')\n")
    assert "y" not in found and "x_sample" not in found and "boom" not in found
    assert found["num_pred"] == 1


def test_without_num_pred_nothing_is_held_out():
    df = mu_scaling.script_data(SCRIPT.replace("num_pred=1", "k = 1"))
    assert not df.held_out.any()


@pytest.mark.parametrize("text, match", [
    (SCRIPT.replace("train_loss = [", "loss = ["), "no literal list assigned to 'train_loss'"),
    (SCRIPT.replace("61.12]", "61.12, 80.0]"), "different lengths"),
    (SCRIPT.replace("3.3542]", "'3.35']"), "not a finite number"),
    (SCRIPT.replace("39.09, 61.12", "61.12, 39.09"), "increasing order"),
    (SCRIPT.replace("num_pred=1", "num_pred=4"), "num_pred"),
    ("shapes = [1,\n", "not Python source"),
])
def test_refuses_malformed_scripts(text, match):
    with pytest.raises(mu_scaling.ScriptError, match=match):
        mu_scaling.script_data(text)
