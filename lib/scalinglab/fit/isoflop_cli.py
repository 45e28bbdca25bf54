"""``scalinglab isoflop``: compute-optimal exponents from a CSV of runs (Hoffmann et al.
2022, Approaches 1 and 2).

    scalinglab isoflop runs.csv --approach 2 --C flops --N params --loss val_loss
    scalinglab isoflop runs.csv --approach 2 --C flops --N params --D tokens --loss val_loss \\
        --tokens fit --bootstrap 1000 --json
    scalinglab isoflop curves.csv --approach 1 --run run_id --N params --C flops_so_far --loss loss

A role flag not given reads the column of the role's own name (``--C`` defaults to a
column ``C``). Exit status 0 on success, 2 on bad input (a one-line message on stderr),
141 when the reader of stdout went away (``| head -1``), without a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

PROG = "scalinglab isoflop"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's convention)
        self.exit(2, f"{self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, allow_abbrev=False,
                description="Compute-optimal exponents N* ∝ C^a, D* ∝ C^b from a CSV of runs: "
                            "Approach 2 (IsoFLOP profiles, one row per run) or Approach 1 "
                            "(lower envelope of training curves, one row per run and step).",
                epilog="A role flag not given reads the column of the role's own name.")
    p.add_argument("file", help="CSV file")
    p.add_argument("--approach", type=int, choices=[1, 2], default=2,
                   help="2: IsoFLOP profiles (default); 1: lower envelope of training curves")
    roles = p.add_argument_group("columns (roles)")
    roles.add_argument("--C", metavar="COL", help="Approach 2: the compute budget grouping the runs; "
                                                  "Approach 1: the compute used so far (default column C)")
    roles.add_argument("--N", metavar="COL", help="parameters (default column N)")
    roles.add_argument("--D", metavar="COL", help="Approach 2: training tokens (needed for --tokens fit; "
                                                  "else checked against 6·N·D = C when given)")
    roles.add_argument("--loss", metavar="COL", help="the loss, the target (default column loss)")
    roles.add_argument("--run", metavar="COL", help="Approach 1: the run id (default column run)")
    a2 = p.add_argument_group("Approach 2")
    a2.add_argument("--tokens", choices=["6ND", "fit"],
                    help="how D* is found per budget: 6ND (D* = C/(6N*), default) or fit "
                         "(its own fit of the losses in log D; needs --D)")
    a2.add_argument("--method", choices=["parabola", "spline"],
                    help="the fit through each budget's profile (default parabola)")
    a2.add_argument("--min-points", type=int, metavar="K",
                    help="fewest runs a budget needs to be used (default 3)")
    a1 = p.add_argument_group("Approach 1")
    a1.add_argument("--grid", type=int, metavar="K", help="log-spaced compute values (default 200)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="K",
                   help="bootstrap resamples of the per-budget optima for intervals (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


APPROACH_ONLY = {2: ("tokens", "method", "min_points", "D"), 1: ("run", "grid")}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def main(argv: Sequence[str] | None = None) -> int:
    """Estimate and print; a closed stdout (``| head``) ends it quietly with status 141."""
    from scalinglab.fit.cli import quiet_on_closed_pipe
    return quiet_on_closed_pipe(_main, argv)


def _main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help (0) or a usage error (2, its line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    other = 1 if args.approach == 2 else 2
    wrong = [d for d in APPROACH_ONLY[other] if getattr(args, d) is not None]
    if wrong:
        print(f"{PROG}: {', '.join(map(_flag, wrong))} only applies with --approach {other}", file=sys.stderr)
        return 2
    # numpy/pandas only past the parser: --help and usage errors stay quick
    from scalinglab.fit.api import FitDataError
    from scalinglab.fit.cli import _read
    from scalinglab.fit.isoflop import envelope_approach1, isoflop_approach2
    try:
        frame = _read(args.file)
        if args.approach == 2:
            columns = {r: getattr(args, r) for r in ("C", "N", "D", "loss") if getattr(args, r)}
            res = isoflop_approach2(frame, columns=columns, tokens=args.tokens or "6ND",
                                    method=args.method or "parabola",
                                    min_points=3 if args.min_points is None else args.min_points,
                                    bootstrap=args.bootstrap, seed=args.seed, level=args.level,
                                    verbose=False)
        else:
            columns = {r: getattr(args, r) for r in ("run", "N", "C", "loss") if getattr(args, r)}
            res = envelope_approach1(frame, columns=columns, n_grid=200 if args.grid is None else args.grid,
                                     bootstrap=args.bootstrap, seed=args.seed, level=args.level,
                                     verbose=False)
    except (FitDataError, ValueError) as exc:
        text = str(exc).strip().splitlines()
        print(f"{PROG}: {text[0] if text else type(exc).__name__}", file=sys.stderr)
        return 2
    for w in res.warnings:
        print(f"{PROG}: warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print(res.settings_line())
        print(res.table())
        print(res.exponent_line("a"))
        print(res.exponent_line("b"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
