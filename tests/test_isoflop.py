"""IsoFLOP methods (Hoffmann et al. 2022, Approaches 1 and 2) on synthetic runs with a
known compute-optimal frontier, and on bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from scalinglab.fit import Chinchilla, FitDataError, chinchilla_frontier, exponent_a
from scalinglab.fit.isoflop import (
    IsoFlopResult, Vertex, envelope_approach1, isoflop_approach2, isoflop_minimum, parabola_vertex,
)

# Hoffmann et al.'s published Approach-3 vector: a = beta/(alpha+beta), b = alpha/(alpha+beta)
E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
A_TRUE, B_TRUE = BETA / (ALPHA + BETA), ALPHA / (ALPHA + BETA)
G = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))  # N* = G (C/6)^a
BUDGETS = np.geomspace(1e18, 1e22, 7)
SPREAD = np.geomspace(1 / 6, 6, 9)  # sizes per budget, around its optimum


def chinchilla_loss(N, D):
    return E + A / np.asarray(N, float) ** ALPHA + B / np.asarray(D, float) ** BETA


def isoflop_grid(budgets=BUDGETS, spread=SPREAD, names=("C", "N", "D", "loss")):
    """One row per run; every budget C = 6 N D exactly."""
    rows = []
    for C in budgets:
        for N in G * (C / 6) ** A_TRUE * spread:
            rows.append((C, N, C / (6 * N)))
    df = pd.DataFrame(rows, columns=list(names[:3]))
    df[names[3]] = chinchilla_loss(df[names[1]], df[names[2]])
    return df


def mismatched_grid():
    """Budgets that are the real compute, not 6ND: C / (6 N D) = r(N) falls as a power of N
    from about 1.3 at the smallest model to about 0.7 at the largest (small models spend
    relatively more FLOPs outside the 6N per token). Returns the runs and the true
    exponents of the optimum at the real budget."""
    lo, hi = isoflop_grid()["N"].min(), isoflop_grid()["N"].max()
    for _ in range(2):  # the design depends on r, r on the design's range: settle it
        gamma = -math.log(1.3 / 0.7) / math.log(hi / lo)
        K = 6 * 1.3 * lo ** -gamma  # D = C / (K N^(1+gamma))
        p = ALPHA + BETA * (1 + gamma)
        rows = []
        for C in BUDGETS:
            n_star = (ALPHA * A * C ** BETA / (BETA * (1 + gamma) * B * K ** BETA)) ** (1 / p)
            for N in n_star * SPREAD:
                rows.append((C, N, C / (K * N ** (1 + gamma))))
        df = pd.DataFrame(rows, columns=["C", "N", "D"])
        lo, hi = df["N"].min(), df["N"].max()
    df["loss"] = chinchilla_loss(df["N"], df["D"])
    a = BETA / p
    return df, a, 1 - (1 + gamma) * a


# ----------------------------------------------------------------------------------
# Approach 2 recovers the frontier
# ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tokens", ["6ND", "fit"])
@pytest.mark.parametrize("method", ["parabola", "spline"])
def test_approach2_recovers_a_and_b(tokens, method):
    res = isoflop_approach2(isoflop_grid(), tokens=tokens, method=method, verbose=False)
    assert isinstance(res, IsoFlopResult)
    assert res.a == pytest.approx(A_TRUE, abs=0.02)
    assert res.b == pytest.approx(B_TRUE, abs=0.02)
    assert res.a + res.b == pytest.approx(1.0, abs=1e-9)  # C = 6ND exactly: both ways agree
    assert list(res.minima.columns) == ["C", "N_opt", "D_opt", "loss_opt", "n_runs", "interior", "used", "reason"]
    assert res.minima["used"].all() and (res.minima["reason"] == "").all()
    assert res.a_interval is None and res.b_interval is None
    assert res.settings["tokens"] == tokens and res.method == method


def test_approach2_a_plus_b_is_one_under_6ND_with_any_data():
    df = isoflop_grid()
    df["loss"] *= np.exp(0.01 * np.random.default_rng(3).standard_normal(len(df)))
    res = isoflop_approach2(df, tokens="6ND", verbose=False)
    assert res.a + res.b == pytest.approx(1.0, abs=1e-9)
    # D_opt is the budget spent on the optimal model
    used = res.minima[res.minima["used"]]
    np.testing.assert_allclose(used["D_opt"], used["C"] / (6 * used["N_opt"]), rtol=1e-12)
    # a custom FLOP count linear in D: D* = C / flops(N*, 1)
    res8 = isoflop_approach2(df, flops=lambda N, D: 8 * N * D, verbose=False)
    np.testing.assert_allclose(res8.minima["D_opt"], res.minima["D_opt"] * 6 / 8, rtol=1e-12)


def test_approach2_matches_the_chinchilla_frontier_of_the_wider_suite():
    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    rows = []
    for C in np.geomspace(1e18, 1e21, 6):
        for N in chinchilla_frontier(truth, C)["N_opt"] * np.geomspace(0.1, 10, 9):
            rows.append({"N": N, "D": C / (6 * N), "C": C})
    df = pd.DataFrame(rows)
    df["loss"] = Chinchilla().predict(truth, df)
    for method in ("parabola", "spline"):
        res = isoflop_approach2(df, method=method, verbose=False)
        assert res.a == pytest.approx(exponent_a(truth), abs=0.02)


def test_budgets_off_6ND_need_tokens_fit():
    df, a_true, b_true = mismatched_grid()
    ratio = df["C"] / (6 * df["N"] * df["D"])
    assert 0.65 < ratio.min() < 0.75 and 1.25 < ratio.max() < 1.35  # about ±30%
    fit = isoflop_approach2(df, tokens="fit", verbose=False)
    assert fit.a == pytest.approx(a_true, abs=0.02)
    assert fit.b == pytest.approx(b_true, abs=0.02)
    assert fit.b == pytest.approx(b_true, abs=1e-3)  # noise-free: the parabola's bias cancels
    assert not fit.warnings
    six = isoflop_approach2(df, tokens="6ND", verbose=False)
    assert six.a == pytest.approx(fit.a, abs=1e-12)  # N* is found the same way
    assert abs(six.b - b_true) > 0.03  # C/(6N*) misstates the tokens
    assert six.warnings and "more than 10%" in six.warnings[0]


def test_6ND_warning_is_printed_only_when_budgets_differ(capsys):
    isoflop_approach2(isoflop_grid(), verbose=True)
    out = capsys.readouterr().out
    assert "warning" not in out and "tokens='6ND'" in out and "7 of 7 budgets used" in out
    df, _, _ = mismatched_grid()
    isoflop_approach2(df, verbose=True)
    out = capsys.readouterr().out
    assert "warning: 6·N·D differs from the budget column 'C' by more than 10%" in out
    isoflop_approach2(df, tokens="fit", verbose=True)
    out = capsys.readouterr().out
    assert "warning" not in out and "tokens='fit'" in out and "D: 'D'" in out


def test_columns_map_roles_and_results_name_N_and_D():
    df = isoflop_grid(names=("flops", "params", "tokens", "val_loss"))
    res = isoflop_approach2(df, columns={"C": "flops", "N": "params", "D": "tokens", "loss": "val_loss"},
                            tokens="fit", verbose=False)
    assert res.a == pytest.approx(A_TRUE, abs=0.02) and res.b == pytest.approx(B_TRUE, abs=0.02)
    assert res.settings["columns"] == {"C": "flops", "N": "params", "D": "tokens", "loss": "val_loss"}
    # the fitted lines give back the optima
    used = res.minima[res.minima["used"]]
    np.testing.assert_allclose(res.N_opt(used["C"].to_numpy()), used["N_opt"], rtol=1e-3)
    np.testing.assert_allclose(res.D_opt(used["C"].to_numpy()), used["D_opt"], rtol=1e-3)
    assert isinstance(res.N_opt(1e20), float)
    with pytest.raises(TypeError, match="columns="):
        isoflop_approach2(df, size="tokens")  # the old keywords are gone: no silent swaps


def test_bootstrap_over_budgets_and_json(capsys):
    df = isoflop_grid()
    df["loss"] *= np.exp(0.005 * np.random.default_rng(0).standard_normal(len(df)))
    res = isoflop_approach2(df, bootstrap=200, seed=1, level=0.9, verbose=True)
    out = capsys.readouterr().out
    assert "bootstrap 200 resamples of the budgets' optima (seed 1), 90% intervals" in out
    lo, hi = res.a_interval
    assert lo < res.a < hi and res.b_interval[0] < res.b < res.b_interval[1]
    again = isoflop_approach2(df, bootstrap=200, seed=1, level=0.9, verbose=False)
    assert again.a_interval == res.a_interval
    d = json.loads(json.dumps(res.to_dict()))
    assert d["a"] == pytest.approx(res.a) and d["b_interval"] == pytest.approx(list(res.b_interval))
    assert len(d["minima"]) == 7 and d["minima"][0]["used"] is True
    assert d["settings"]["tokens"] == "6ND" and d["level"] == 0.9
    assert "a = " in res.summary() and "90% [" in res.summary()
    html = res._repr_html_()
    assert "N* ∝ C^a" in html and "<table" in html
    assert res.exponent_line("b").startswith("b = ")


# ----------------------------------------------------------------------------------
# Approach 2: bad input, one line each
# ----------------------------------------------------------------------------------
@pytest.mark.parametrize("frame", [pd.DataFrame(), pd.DataFrame(columns=["C", "N", "loss"]), {}])
def test_empty_frame_is_a_clear_error(frame):
    with pytest.raises(FitDataError, match=r"^no runs: the frame is empty$"):
        isoflop_approach2(frame, verbose=False)
    with pytest.raises(FitDataError, match=r"^no runs: the frame is empty$"):
        envelope_approach1(frame, verbose=False)


def test_missing_column_names_role_and_column():
    with pytest.raises(FitDataError, match=r"missing column 'params' for role N \(parameters\)") as exc:
        isoflop_approach2(isoflop_grid(), columns={"N": "params"}, verbose=False)
    assert "\n" not in str(exc.value) and "C, N, D, loss" in str(exc.value)
    df = isoflop_grid().drop(columns="D")
    with pytest.raises(FitDataError, match=r"missing column 'D' for role D \(tokens\)"):
        isoflop_approach2(df, tokens="fit", verbose=False)
    isoflop_approach2(df, verbose=False)  # 6ND needs no tokens column
    with pytest.raises(ValueError, match="not a role"):
        isoflop_approach2(df, columns={"size": "N"}, verbose=False)


def test_bad_values_and_settings():
    df = isoflop_grid()
    df.loc[3, "N"] = -1.0
    with pytest.raises(FitDataError, match=r"column 'N' \(role N\) has 1 non-positive value\(s\) \(rows 3\)"):
        isoflop_approach2(df, verbose=False)
    df = isoflop_grid()
    df.loc[5, "loss"] = np.nan
    with pytest.raises(FitDataError, match=r"column 'loss' \(role loss\) has 1 missing"):
        isoflop_approach2(df, verbose=False)
    with pytest.raises(ValueError, match="tokens='parabola' is not one of '6ND', 'fit'"):
        isoflop_approach2(isoflop_grid(), tokens="parabola", verbose=False)
    with pytest.raises(ValueError, match="method="):
        isoflop_approach2(isoflop_grid(), method="cubic", verbose=False)
    with pytest.raises(ValueError, match="flops= only applies"):
        isoflop_approach2(isoflop_grid(), tokens="fit", flops=lambda N, D: 6 * N * D, verbose=False)


def test_too_few_runs_in_a_budget_is_named():
    df = isoflop_grid(budgets=BUDGETS[:3])
    df = df[(df["C"] != BUDGETS[1]) | (df.index < 11)]  # the second budget keeps 2 runs
    with pytest.raises(FitDataError, match=r"^Approach 2 needs at least 3 usable budgets, got 2 of 3 "
                                           r"\(C=4\.642e\+18 \(2 runs\): too few runs \(2 < min_points=3\)\)$"):
        isoflop_approach2(df, verbose=False)
    # with more budgets the short one is dropped, listed with its reason
    df = pd.concat([isoflop_grid(), df[df["C"] == BUDGETS[1]].assign(C=5e22)])
    res = isoflop_approach2(df, verbose=False)
    row = res.minima.set_index("C").loc[5e22]
    assert not row["used"] and row["n_runs"] == 2 and row["reason"].startswith("too few runs")
    assert res.a == pytest.approx(A_TRUE, abs=0.02)


def test_all_equal_sizes_are_degenerate():
    df = isoflop_grid(budgets=BUDGETS[:4])
    df.loc[df["C"] == BUDGETS[0], "N"] = 1e8
    res = isoflop_approach2(df, verbose=False)
    bad = res.minima.iloc[0]
    assert not bad["used"] and bad["reason"].startswith("degenerate: all 9 runs have the same N")
    df.loc[df["C"] == BUDGETS[1], "N"] = np.repeat([1e9, 2e9], [5, 4])
    with pytest.raises(FitDataError, match=r"C=1e\+18 \(9 runs\): degenerate: all 9 runs have the same N "
                                           r"\(a parabola needs 3\); C=4\.642e\+18 \(9 runs\): degenerate: "
                                           r"9 runs but only 2 distinct N values"):
        isoflop_approach2(df, verbose=False)


def test_fewer_than_three_budgets_is_not_enough():
    for k in (1, 2):
        with pytest.raises(FitDataError, match=rf"at least 3 usable budgets, got {k} of {k}$"):
            isoflop_approach2(isoflop_grid(budgets=BUDGETS[:k]), verbose=False)


def test_downward_parabola_and_unbracketed_minimum_are_listed(capsys):
    df = isoflop_grid()
    at = df["C"] == BUDGETS[2]
    df.loc[at, "loss"] = 5.0 - (np.log(df.loc[at, "N"]) - 18) ** 2  # opens downward
    at = df["C"] == BUDGETS[4]
    df = df[~at | (df["N"] < df.loc[at, "N"].median())]  # only sizes below the optimum
    res = isoflop_approach2(df, verbose=True)
    out = capsys.readouterr().out
    m = res.minima.set_index("C")
    assert m.loc[BUDGETS[2], "reason"] == "no minimum: the parabola in log N opens downward"
    assert m.loc[BUDGETS[4], "reason"].startswith("minimum not bracketed: N* = ")
    assert not m.loc[BUDGETS[2], "used"] and not m.loc[BUDGETS[4], "used"]
    assert res.settings["used"] == 5 and "5 of 7 budgets used" in out
    assert "not used: C=4.642e+20 (4 runs): minimum not bracketed" in out
    assert res.a == pytest.approx(A_TRUE, abs=0.02)
    with pytest.raises(FitDataError, match="opens downward"):
        isoflop_approach2(df[df["C"].isin(BUDGETS[2:5])], verbose=False)


# ----------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------
def test_parabola_vertex():
    x = np.linspace(-2, 3, 7)
    v = parabola_vertex(x, 2.0 * (x - 0.5) ** 2 + 1.0)
    assert isinstance(v, Vertex) and v.convex and v.interior
    assert v.x == pytest.approx(0.5) and v.y == pytest.approx(1.0)
    assert not parabola_vertex(x, (x - 5.0) ** 2).interior  # beyond the sampled x
    down = parabola_vertex(x, -(x ** 2))
    assert not down.convex and not down.interior and down.x in (x[0], x[-1])
    with pytest.raises(FitDataError, match="3 distinct"):
        parabola_vertex([1.0, 1.0, 2.0], [0.0, 1.0, 2.0])
    # the same bits as the hand computation it replaces (maloney2022_solvable)
    rng = np.random.default_rng(0)
    xs, ys = np.sort(rng.normal(size=5)), rng.normal(size=5) + np.linspace(-1, 1, 5) ** 2 * 4
    c2, c1, _ = np.polyfit(xs, ys, 2)
    assert c2 > 0 and parabola_vertex(xs, ys).x == -c1 / (2 * c2)


def test_isoflop_minimum_is_still_public():
    x = np.log(np.geomspace(1e8, 1e10, 9))
    y = (x - np.log(1e9)) ** 2 + 2.0
    for method in ("parabola", "spline"):
        lx, ly, interior = isoflop_minimum(x[::-1], y[::-1], method)
        assert interior and math.exp(lx) == pytest.approx(1e9, rel=1e-2) and ly == pytest.approx(2.0, abs=1e-3)


# ----------------------------------------------------------------------------------
# Approach 1
# ----------------------------------------------------------------------------------
def training_curves(run="run"):
    rows = []
    for i, N in enumerate(np.geomspace(1e7, 3e9, 14)):
        for D in np.geomspace(1e8, 3e11, 60):
            rows.append({run: i, "N": N, "C": 6 * N * D, "loss": chinchilla_loss(N, D)})
    return pd.DataFrame(rows)


def test_envelope_approach1_on_synthetic_training_curves(capsys):
    res = envelope_approach1(training_curves(), verbose=True)
    out = capsys.readouterr().out
    assert "lower envelope of 14 training curves" in out and "200 log-spaced" in out
    assert res.approach == 1 and res.method == "envelope"
    assert res.a == pytest.approx(A_TRUE, abs=0.05)
    assert res.a + res.b == pytest.approx(1.0, abs=1e-9)
    assert list(res.minima.columns) == ["C", "N_opt", "D_opt", "loss_opt", "n_runs", "interior", "used", "reason"]
    assert (res.minima.loc[~res.minima["used"], "reason"] == "spanned by a single run").all()
    # the run id under another name, a bootstrap, and JSON
    res2 = envelope_approach1(training_curves("run_id"), columns={"run": "run_id"}, n_grid=100,
                              bootstrap=50, seed=2, verbose=False)
    assert res2.a_interval is not None and len(res2.minima) == 100
    assert json.loads(json.dumps(res2.to_dict()))["settings"]["columns"]["run"] == "run_id"


def test_envelope_approach1_errors():
    curves = training_curves()
    with pytest.raises(FitDataError, match=r"missing column 'run_id' for role run"):
        envelope_approach1(curves, columns={"run": "run_id"}, verbose=False)
    with pytest.raises(FitDataError, match="at least 2 training runs, got 1"):
        envelope_approach1(curves[curves["run"] == 0], verbose=False)
    bad = curves.copy()
    bad.loc[0, "N"] = 5e7
    with pytest.raises(FitDataError, match=r"run 0 has 2 different values of 'N'"):
        envelope_approach1(bad, verbose=False)
    with pytest.raises(TypeError, match="columns="):
        envelope_approach1(curves, size="N", compute="C", loss="loss", verbose=False)
    with pytest.raises(ValueError, match="n_grid"):
        envelope_approach1(curves, n_grid=1, verbose=False)
