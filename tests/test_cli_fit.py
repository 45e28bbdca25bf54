"""``scalinglab fit`` on users' CSV files, called in-process and as a module."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scalinglab.fit import Chinchilla
from scalinglab.fit.cli import main

TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


@pytest.fixture
def runs_csv(tmp_path):
    N, D = np.meshgrid(np.geomspace(5e7, 5e9, 7), np.geomspace(1e9, 1e11, 6))
    df = pd.DataFrame({"params": N.ravel(), "tokens": D.ravel()})
    df["flops"] = 6 * df.params * df.tokens
    df["val_loss"] = Chinchilla().predict(TRUTH, N=df.params, D=df.tokens)
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    return path


def test_json_output_holds_the_fitted_values(runs_csv, capsys):
    rc = main([str(runs_csv), "--law", "chinchilla", "--n", "params", "--d", "tokens",
               "--loss", "val_loss", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for k, v in TRUTH.items():
        assert out["params"][k] == pytest.approx(v, rel=1e-4)
    assert out["converged"] is True and out["settings"]["objective"] == "huber"


def test_flops_column_bootstrap_and_table(runs_csv, capsys):
    rc = main([str(runs_csv), "--n", "params", "--c", "flops", "--loss", "val_loss",
               "--bootstrap", "20", "--huber-delta", "0.01", "--optimal-at", "1e21"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "huber(delta=0.01)" in out and "95% [" in out and "tokens_per_param" in out


def test_power_and_kaplan_forms(tmp_path, capsys):
    x = np.geomspace(1e6, 1e9, 8)
    path = tmp_path / "sizes.csv"
    pd.DataFrame({"N": x, "loss": 2.0 + 40 * x ** -0.3}).to_csv(path, index=False)
    assert main([str(path), "--law", "power", "--x", "N", "--loss", "loss", "--offset",
                 "--objective", "lsq", "--json"]) == 0
    p = json.loads(capsys.readouterr().out)["params"]
    assert p["alpha"] == pytest.approx(0.3, rel=1e-4) and p["E"] == pytest.approx(2.0, rel=1e-4)
    assert main([str(path), "--law", "kaplan-n", "--n", "N", "--loss", "loss", "--json"]) == 0
    assert "alpha_N" in json.loads(capsys.readouterr().out)["params"]


@pytest.mark.parametrize("content,match", [
    (None, "no such file"),
    (b"\xff\xfe\x00\x01binary\x00\x00", "cannot read"),
    (b"params,tokens\n1e8,1e9\n2e8,2e9\n", "missing column 'val_loss'"),
    (b"params,tokens,val_loss\n1e8,1e9,abc\n2e8,2e9,3.0\n", "not numeric"),
    (b"params,tokens,val_loss\n1e8,1e9,\n2e8,2e9,3.0\n", "NaN"),
    (b"params,tokens,val_loss\n1e8,1e9,3.1\n2e8,2e9,3.0\n", "needs at least 6 points"),
    (b"params,tokens,val_loss\n-1e8,1e9,3.1\n2e8,2e9,3.0\n", "non-positive"),
])
def test_malformed_files_exit_2_with_one_line(tmp_path, capsys, content, match):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    rc = main([str(path), "--n", "params", "--d", "tokens", "--loss", "val_loss"])
    err = capsys.readouterr().err
    assert rc == 2
    assert match in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_runs_as_a_module(runs_csv, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "scalinglab.fit.cli", str(runs_csv), "--n", "params",
                         "--d", "tokens", "--loss", "val_loss", "--json"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["params"]["alpha"] == pytest.approx(0.35, rel=1e-4)
    bad = subprocess.run([sys.executable, "-m", "scalinglab.fit.cli", str(tmp_path / "missing.csv"),
                          "--n", "params", "--d", "tokens", "--loss", "val_loss"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_a_closed_pipe_ends_quietly(runs_csv):
    # `scalinglab fit runs.csv ... | head -1`: the reader is gone before the table is
    # written; the command stops without a traceback
    for module in ("scalinglab.fit.cli", "scalinglab.cli"):
        args = [sys.executable, "-m", module] + (["fit"] if module == "scalinglab.cli" else [])
        proc = subprocess.Popen(args + [str(runs_csv), "--n", "params", "--d", "tokens",
                                        "--loss", "val_loss"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 141, err
        assert err == "", err


def test_a_closed_pipe_in_process(runs_csv, monkeypatch):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main([str(runs_csv), "--n", "params", "--d", "tokens", "--loss", "val_loss"]) == 141


def test_column_flags_are_the_roles_of_columns(runs_csv, capsys):
    """--N/--D/--C/--loss name the same roles as fit_law's columns=; lower-case aliases stay."""
    assert main([str(runs_csv), "--N", "params", "--D", "tokens", "--loss", "val_loss", "--json"]) == 0
    upper = json.loads(capsys.readouterr().out)
    assert main([str(runs_csv), "--n", "params", "--d", "tokens", "--loss", "val_loss", "--json"]) == 0
    lower = json.loads(capsys.readouterr().out)
    assert upper["params"] == lower["params"]
    assert upper["settings"]["columns"] == {"N": "params", "D": "tokens", "loss": "val_loss"}
    # comparable numbers: the objective as minimised, and the residual sum of squares and RMSE
    assert upper["rss"] >= 0 and upper["rmse"] >= 0 and upper["objective_definition"].startswith("Huber")
    assert upper["params"]["a"] == pytest.approx(TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"]), rel=1e-4)
    assert main([str(runs_csv), "--N", "params", "--C", "flops", "--loss", "val_loss", "--objective", "lsq"]) == 0
    out = capsys.readouterr().out
    assert "(½·r² per point, summed) · RSS (Σr², log space)" in out and "RSS (Σr², log space)" in out


def test_a_growing_power_law_reports_a_positive_exponent(tmp_path, capsys):
    B = np.geomspace(1e3, 1e6, 8)
    path = tmp_path / "batch.csv"
    pd.DataFrame({"tokens": B, "critical_batch": 0.2 * B ** 0.47}).to_csv(path, index=False)
    assert main([str(path), "--law", "power", "--x", "tokens", "--loss", "critical_batch", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["alpha"] == pytest.approx(0.47, rel=1e-6)
    assert out["law"]["growing"] is True and out["settings"]["direction"].startswith("growing")


def test_a_role_the_law_does_not_use_is_a_one_line_error(runs_csv, capsys):
    assert main([str(runs_csv), "--x", "params", "--loss", "val_loss"]) == 2
    err = capsys.readouterr().err
    assert "--x is not used by law chinchilla" in err and len(err.strip().splitlines()) == 1


def test_the_fit_command_loads_only_what_a_fit_needs(runs_csv):
    """``scalinglab fit`` starts fast (benchmarks/bench_cli.py measures it): a fit from the
    command line loads no notebook machinery, plotting, torch or scipy.stats."""
    code = ("import sys; from scalinglab.cli import main\n"
            f"rc = main(['fit', {str(runs_csv)!r}, '--N', 'params', '--D', 'tokens', '--loss', 'val_loss'])\n"
            "heavy = sorted({m.split('.')[0] if not m.startswith(('scipy.stats', 'scalinglab.repro')) else m\n"
            "                for m in sys.modules if m.split('.')[0] in ('torch', 'matplotlib')\n"
            "                or m.startswith(('scipy.stats', 'scalinglab.repro', 'scalinglab.site'))})\n"
            "print('HEAVY', rc, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    last = out.stdout.strip().splitlines()[-1]
    assert last == "HEAVY 0 []", out.stderr[-2000:] or last
