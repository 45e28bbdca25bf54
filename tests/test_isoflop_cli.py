"""``scalinglab isoflop`` on users' CSV files, called in-process and as a module."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from scalinglab.fit.isoflop_cli import main
from test_isoflop import A_TRUE, B_TRUE, isoflop_grid, mismatched_grid, training_curves


@pytest.fixture
def runs_csv(tmp_path):
    path = tmp_path / "runs.csv"
    isoflop_grid(names=("flops", "params", "tokens", "val_loss")).to_csv(path, index=False)
    return path


ROLES = ["--C", "flops", "--N", "params", "--loss", "val_loss"]


def test_table_output(runs_csv, capsys):
    assert main([str(runs_csv), "--approach", "2", *ROLES, "--bootstrap", "50"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("IsoFLOP Approach 2 · budgets from column 'flops'")
    assert "tokens='6ND'" in lines[0] and "bootstrap 50 resamples of the budgets' optima" in lines[0]
    assert lines[1].split() == ["C", "N_opt", "D_opt", "loss_opt", "n_runs", "interior", "used", "reason"]
    assert len(lines) == 1 + 1 + 7 + 2
    assert lines[-2].startswith("a = ") and "95% [" in lines[-2] and lines[-1].startswith("b = ")
    assert err == ""


def test_json_output_tokens_fit(runs_csv, capsys):
    assert main([str(runs_csv), *ROLES, "--D", "tokens", "--tokens", "fit", "--method", "spline", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["a"] == pytest.approx(A_TRUE, abs=0.02) and d["b"] == pytest.approx(B_TRUE, abs=0.02)
    assert d["a_interval"] is None and d["settings"]["tokens"] == "fit" and d["method"] == "spline"
    assert d["settings"]["columns"] == {"C": "flops", "N": "params", "D": "tokens", "loss": "val_loss"}
    assert len(d["minima"]) == 7


def test_budget_mismatch_warns_on_stderr(tmp_path, capsys):
    path = tmp_path / "marin.csv"
    mismatched_grid()[0].to_csv(path, index=False)
    assert main([str(path), "--json"]) == 0  # every role from the column of its own name
    out, err = capsys.readouterr()
    json.loads(out)
    assert err.startswith("scalinglab isoflop: warning: 6·N·D differs from the budget column 'C'")
    assert main([str(path), "--tokens", "fit"]) == 0
    assert capsys.readouterr().err == ""


def test_approach1(tmp_path, capsys):
    path = tmp_path / "curves.csv"
    training_curves("run_id").to_csv(path, index=False)
    assert main([str(path), "--approach", "1", "--run", "run_id", "--N", "N", "--C", "C",
                 "--loss", "loss", "--grid", "50", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["approach"] == 1 and len(d["minima"]) == 50 and d["a"] == pytest.approx(A_TRUE, abs=0.05)


@pytest.mark.parametrize("args,match", [
    (["--N", "size"], "scalinglab isoflop: missing column 'size' for role N (parameters); "
                      "the frame has columns: flops, params, tokens, val_loss"),
    (["--tokens", "fit"], "scalinglab isoflop: missing column 'D' for role D (tokens)"),
    (["--approach", "1", "--tokens", "fit"], "scalinglab isoflop: --tokens only applies with --approach 2"),
    (["--grid", "10"], "scalinglab isoflop: --grid only applies with --approach 1"),
    (["--level", "2"], "scalinglab isoflop: level=2.0 must be between 0 and 1"),
    (["--tokens", "parabola"], "scalinglab isoflop: argument --tokens: invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(runs_csv, capsys, args, match):
    base = [str(runs_csv), *ROLES]
    if "--N" in args:
        base = [str(runs_csv), "--C", "flops", "--loss", "val_loss"]
    assert main([*base, *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(match) and err.count("\n") == 1


@pytest.mark.parametrize("content,match", [
    ("", "cannot read"),
    ("C,N,loss\n", "no runs: the frame is empty"),
    (None, "no such file"),
])
def test_empty_or_absent_csv(tmp_path, capsys, content, match):
    path = tmp_path / "runs.csv"
    if content is not None:
        path.write_text(content)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scalinglab isoflop: ") and match in err and err.count("\n") == 1


def _run(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-m", "scalinglab.fit.isoflop_cli", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_module_help_and_error_without_traceback(runs_csv):
    done = _run("--help")
    assert done.returncode == 0 and "--tokens {6ND,fit}" in done.stdout and "--approach {1,2}" in done.stdout
    done = _run(str(runs_csv), "--C", "nope")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("scalinglab isoflop: missing column 'nope' for role C (compute budget); "
                                   "the frame has columns: flops, params, tokens, val_loss")
