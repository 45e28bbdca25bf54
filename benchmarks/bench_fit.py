"""Benchmarks of scalinglab.fit (speed, bias, coverage). A plain script, not a test:

    python benchmarks/bench_fit.py            # full: 4,500 starts + 1,000 resamples
    python benchmarks/bench_fit.py --quick    # a tenth of the starts, 100 resamples

1. Speed: Hoffmann et al.'s Approach-3 fit (Chinchilla form, Huber delta 1e-3 summed
   over points, log space) on Epoch's 240 digitised runs from the 4,500-start grid,
   plus a bootstrap, with scalinglab's engine and with a straightforward scipy loop
   (L-BFGS-B from every start, finite-difference gradients, default tolerances; each
   bootstrap resample refitted by L-BFGS-B from the full-data optimum), in the same run.
   Reports both times, their ratio and both optima, and the same for scalinglab's
   default starts (variable projection) in place of the grid.
2. Bias: on synthetic loss surfaces with known exponents (IsoFLOP designs, 1% noise),
   the error in a = beta/(alpha+beta) of Approach 2 (parabolas per budget), Approach 3
   as the reference loop runs it, and scalinglab's default fit.
3. Coverage: how often the 95% percentile bootstrap intervals contain the truth.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import huber

from scalinglab.fit import Chinchilla, chinchilla_frontier, exponent_a, fit_law, isoflop_approach2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------------
# The straightforward reference
# ----------------------------------------------------------------------------------
def reference_objective(theta, logN, logD, logL, delta=1e-3):
    e, a, b, alpha, beta = theta
    pred = np.logaddexp(np.logaddexp(a - alpha * logN, b - beta * logD), e)
    return float(np.sum(huber(delta, pred - logL)))


def reference_fit(starts, logN, logD, logL, bounds):
    best = None
    for x0 in starts:
        res = minimize(reference_objective, x0, args=(logN, logD, logL), method="L-BFGS-B", bounds=bounds)
        if best is None or res.fun < best.fun:
            best = res
    return best


def reference_bootstrap(theta_hat, logN, logD, logL, rows, bounds):
    out = []
    for r in rows:
        res = minimize(reference_objective, theta_hat, args=(logN[r], logD[r], logL[r]),
                       method="L-BFGS-B", bounds=bounds)
        out.append(res.x)
    return np.array(out)


def bench_speed(quick: bool, n_jobs: int) -> dict:
    from scalinglab.data.published import epoch_chinchilla_runs
    runs = epoch_chinchilla_runs()
    law = Chinchilla()
    starts = law.named_grid("chinchilla-4500")
    n_boot = 1000
    if quick:
        starts, n_boot = starts[::10], 100
    lo, hi = law.bounds()
    bounds = list(zip(lo, hi))
    logN, logD, logL = (np.log(runs[c].to_numpy()) for c in ("N", "D", "loss"))

    t0 = time.perf_counter()
    ours = fit_law(law, runs, "loss", starts=starts, bootstrap=n_boot, seed=0, n_jobs=n_jobs, verbose=False)
    t_ours = time.perf_counter() - t0
    # the suite's default: variable-projection starts instead of the grid, same bootstrap
    t0 = time.perf_counter()
    default = fit_law(law, runs, "loss", bootstrap=n_boot, seed=0, n_jobs=n_jobs, verbose=False)
    t_default = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref = reference_fit(starts, logN, logD, logL, bounds)
    rows = np.random.default_rng(0).integers(0, len(runs), size=(n_boot, len(runs)))
    ref_boot = reference_bootstrap(ref.x, logN, logD, logL, rows, bounds)
    t_ref = time.perf_counter() - t0

    ref_params = law.to_public(ref.x)
    q = lambda col: (np.percentile(col, 2.5), np.percentile(col, 97.5))
    ref_alpha_iv = q(ref_boot[:, 3])
    return {
        "starts": len(starts), "resamples": n_boot, "n_jobs": n_jobs,
        "t_ours": t_ours, "t_ref": t_ref, "ratio": t_ref / t_ours,
        "t_default": t_default, "ratio_default": t_ref / t_default, "objective_default": default.objective,
        "default": default.params,
        "objective_ours": ours.objective, "objective_ref": float(ref.fun),
        "ours": ours.params, "ref": ref_params, "ours_alpha_iv": ours.intervals["alpha"],
        "ref_alpha_iv": ref_alpha_iv,
    }


# ----------------------------------------------------------------------------------
# Bias on synthetic surfaces
# ----------------------------------------------------------------------------------
SURFACES = [
    {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},   # Hoffmann Eq. 10
    {"E": 1.82, "A": 482.0, "B": 2085.4, "alpha": 0.348, "beta": 0.366},  # Epoch refit
    {"E": 2.0, "A": 300.0, "B": 3000.0, "alpha": 0.30, "beta": 0.40},   # a = 0.57
]


def isoflop_design(truth, rng, noise=0.01, budgets=np.geomspace(6e18, 3e21, 9), sizes=9):
    rows = []
    for C in budgets:
        n_opt = chinchilla_frontier(truth, C)["N_opt"]
        for N in n_opt * np.geomspace(1 / 8, 8, sizes):
            rows.append({"N": N, "D": C / (6 * N), "C": C})
    df = pd.DataFrame(rows)
    df["loss"] = Chinchilla().predict(truth, df) * np.exp(noise * rng.standard_normal(len(df)))
    return df


def bench_bias(quick: bool) -> pd.DataFrame:
    reps = 3 if quick else 20
    law = Chinchilla()
    # a subsample of the 4,500-start grid for the reference loop (90 starts, 30 quick)
    starts = law.named_grid("chinchilla-4500")[::150 if quick else 50]
    lo, hi = law.bounds()
    bounds = list(zip(lo, hi))
    out = []
    for k, truth in enumerate(SURFACES):
        a_true = exponent_a(truth)
        errs = {"Approach 2 (parabola)": [], "Approach 3 (scipy loop)": [], "scalinglab default": []}
        for rep in range(reps):
            df = isoflop_design(truth, np.random.default_rng(100 * k + rep))
            errs["Approach 2 (parabola)"].append(isoflop_approach2(df, verbose=False).a - a_true)
            logs = [np.log(df[c].to_numpy()) for c in ("N", "D", "loss")]
            ref = reference_fit(starts, *logs, bounds)
            errs["Approach 3 (scipy loop)"].append(exponent_a(law.to_public(ref.x)) - a_true)
            fit = fit_law(law, df, "loss", verbose=False)
            errs["scalinglab default"].append(exponent_a(fit.params) - a_true)
        for method, e in errs.items():
            e = np.array(e)
            out.append({"surface": k, "a_true": round(a_true, 4), "method": method,
                        "bias": e.mean(), "rmse": np.sqrt(np.mean(e ** 2)), "reps": reps})
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------------
# Coverage
# ----------------------------------------------------------------------------------
def bench_coverage(quick: bool) -> pd.DataFrame:
    reps, n_boot = (20, 200) if quick else (100, 500)
    truth = SURFACES[1]
    hits = {k: 0 for k in truth}
    hits["a"] = 0
    for rep in range(reps):
        df = isoflop_design(truth, np.random.default_rng(10_000 + rep), sizes=7, budgets=np.geomspace(1e19, 1e21, 6))
        fit = fit_law("chinchilla", df, "loss", bootstrap=n_boot, seed=rep, verbose=False)
        for k, v in truth.items():
            lo, hi = fit.intervals[k]
            hits[k] += lo <= v <= hi
        _, (lo, hi) = fit.derived(exponent_a)
        hits["a"] += lo <= exponent_a(truth) <= hi
    return pd.DataFrame([{"parameter": k, "coverage": h / reps, "replicates": reps, "resamples": n_boot}
                         for k, h in hits.items()])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the starts, 100 resamples, fewer replicates")
    ap.add_argument("--jobs", type=int, default=1, help="processes for our bootstrap (default 1: like for like)")
    ap.add_argument("--only", choices=["speed", "bias", "coverage"], help="run one section")
    args = ap.parse_args(argv)
    os.environ.setdefault("SCALINGLAB_DATA_MIRROR", os.path.join(ROOT, "..", "shared", "mirror"))
    if args.only in (None, "speed"):
        s = bench_speed(args.quick, args.jobs)
        print(f"\n== Speed: Chinchilla Approach-3 fit, {s['starts']} starts + {s['resamples']} bootstrap "
              f"resamples on Epoch's 240 runs ==")
        print(f"{'':28s}{'seconds':>10s}{'objective (sum)':>18s}{'alpha':>9s}{'beta':>9s}{'E':>8s}")
        print(f"{'scalinglab, same starts':28s}{s['t_ours']:10.2f}{s['objective_ours']:18.9g}"
              f"{s['ours']['alpha']:9.4f}{s['ours']['beta']:9.4f}{s['ours']['E']:8.4f}")
        print(f"{'scalinglab, default starts':28s}{s['t_default']:10.2f}{s['objective_default']:18.9g}"
              f"{s['default']['alpha']:9.4f}{s['default']['beta']:9.4f}{s['default']['E']:8.4f}")
        print(f"{'scipy L-BFGS-B loop':28s}{s['t_ref']:10.2f}{s['objective_ref']:18.9g}"
              f"{s['ref']['alpha']:9.4f}{s['ref']['beta']:9.4f}{s['ref']['E']:8.4f}")
        print(f"speed-up (reference time / ours), same starts: {s['ratio']:.1f}x; default starts: "
              f"{s['ratio_default']:.1f}x   objective difference (ref - ours): "
              f"{s['objective_ref'] - s['objective_ours']:.3g}")
        print(f"alpha 95% interval: ours [{s['ours_alpha_iv'][0]:.4f}, {s['ours_alpha_iv'][1]:.4f}], "
              f"reference [{s['ref_alpha_iv'][0]:.4f}, {s['ref_alpha_iv'][1]:.4f}]")
    if args.only in (None, "bias"):
        b = bench_bias(args.quick)
        print("\n== Bias of a = beta/(alpha+beta) on synthetic surfaces (9 budgets x 9 sizes, 1% noise) ==")
        print(b.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.only in (None, "coverage"):
        c = bench_coverage(args.quick)
        print("\n== Coverage of 95% percentile bootstrap intervals (Epoch-like surface, 1% noise) ==")
        print(c.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
