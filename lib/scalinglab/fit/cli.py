"""``scalinglab fit``: fit a scaling law to a CSV of training runs.

    scalinglab fit runs.csv --law chinchilla --N params --D tokens --loss val_loss
    scalinglab fit runs.csv --law chinchilla --N N --C flops --loss loss --bootstrap 1000 --json
    scalinglab fit sizes.csv --law power --x batch --loss critical_batch --direction growing

The column flags are the roles of ``fit_law``'s ``columns=`` (``--N COL`` is
``columns={"N": COL}``); ``--objective`` is what is minimised. The lower-case
``--n``/``--d``/``--c``/``--s``/``--u`` are kept as aliases.

Exit status 0 on success, 2 on bad input (a one-line message on stderr), 141 when the
reader of stdout went away (``| head -1``), without a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

LAW_COLUMNS = {
    # law: columns it needs (beyond the target)
    "chinchilla": ("N", "D"),
    "chinchilla-tied": ("N", "D"),
    "kaplan-nd": ("N", "D"),
    "kaplan-ns": ("N", "S"),
    "kaplan-n": ("N",),
    "kaplan-d": ("D",),
    "power": ("x",),
    "bnsl": ("x",),
    "data-constrained": ("N", "D", "U"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's convention)
        self.exit(2, f"{self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="scalinglab fit", description="Fit a scaling law to a CSV of training runs.")
    p.add_argument("file", help="CSV file with one row per run")
    p.add_argument("--law", default="chinchilla", choices=sorted(LAW_COLUMNS),
                   help="functional form (default chinchilla: E + A/N^alpha + B/D^beta)")
    add_column_flags(p, ("N", "D", "C", "S", "U", "x"))
    p.add_argument("--offset", action="store_true", help="power: add an irreducible term E")
    p.add_argument("--direction", default="auto", choices=["auto", "falling", "growing"],
                   help="power: A·x^(−alpha) (falling) or A·x^alpha (growing); auto picks from the data")
    p.add_argument("--breaks", type=int, default=1, help="bnsl: number of breaks (default 1)")
    p.add_argument("--objective", default="huber", choices=["huber", "lsq"],
                   help="what is minimised: Huber or ½·r² per point (default huber)")
    p.add_argument("--huber-delta", type=float, default=1e-3, metavar="D", help="Huber delta (default 1e-3)")
    p.add_argument("--reduction", default="sum", choices=["sum", "mean"])
    p.add_argument("--space", default="log", choices=["log", "linear"],
                   help="residuals of log predictions (default) or raw values")
    p.add_argument("--starts", default="default",
                   help="default | chinchilla-4500 | an integer number of starts")
    p.add_argument("--optimizer", default="lm", choices=["lm", "scipy"],
                   help="batched Levenberg-Marquardt + polish (default) or scipy's plain loop")
    p.add_argument("--bootstrap", type=int, default=0, metavar="K", help="bootstrap resamples for intervals")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="processes for the bootstrap (-1: all cores)")
    p.add_argument("--optimal-at", type=float, action="append", default=[], metavar="C",
                   help="chinchilla: also report the compute-optimal N, D at budget C (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


ROLE_FLAGS = {
    # role: (help, lower-case alias kept from earlier versions)
    "N": ("column with the parameter count N", "--n"),
    "D": ("column with the training tokens D", "--d"),
    "C": ("column with training FLOPs C (the budget); D = C/(6N) when --D is absent", "--c"),
    "S": ("column with training steps S (kaplan-ns)", "--s"),
    "U": ("column with unique tokens U (data-constrained)", "--u"),
    "x": ("column with the size axis x (power, bnsl)", None),
    "run": ("column naming each training run", None),
    "loss": ("column with the target (what is fitted; default: the column 'loss')", None),
}


def add_column_flags(p: argparse.ArgumentParser, roles: Sequence[str]) -> None:
    """``--ROLE COL`` for each role and ``--loss COL``: the CLI's form of ``columns=``."""
    for role in (*roles, "loss"):
        text, alias = ROLE_FLAGS[role]
        names = [f"--{role}"] + ([alias] if alias else [])
        p.add_argument(*names, dest=f"col_{role}", metavar="COL", help=text)


def columns_from(args: argparse.Namespace) -> dict[str, str]:
    """The ``columns=`` mapping the column flags give."""
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("col_") and v}


def _read(path: str):
    import pandas as pd
    from pathlib import Path
    from scalinglab.fit.api import FitDataError
    if not Path(path).is_file():
        raise FitDataError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FitDataError(f"cannot read {path} as CSV: {first}") from None
    if frame.shape[1] < 2:
        raise FitDataError(f"{path} does not look like a CSV of runs (found {frame.shape[1]} column)")
    return frame


def _check_roles(args, columns: dict[str, str]) -> None:
    """Every role the law needs has a column: given by a flag, or present by its own
    name in the file (checked later), or D from C."""
    for role in ("S", "U", "x"):
        if role in columns and role not in LAW_COLUMNS[args.law]:
            raise ValueError(f"--{role} is not used by law {args.law} (it needs {', '.join(LAW_COLUMNS[args.law])})")


def _starts(value: str):
    return int(value) if value.strip().lstrip("-").isdigit() else value


def main(argv: Sequence[str] | None = None) -> int:
    """Fit and print; a closed stdout (``| head``) ends it quietly with status 141."""
    return quiet_on_closed_pipe(_main, argv)


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a process killed by the signal reports


def quiet_on_closed_pipe(command, argv) -> int:
    """``command(argv)``, ended quietly with EXIT_BROKEN_PIPE when stdout is closed early."""
    try:
        code = command(argv)
        sys.stdout.flush()  # a closed pipe shows up here rather than at interpreter exit
        return code
    except BrokenPipeError:
        exit_quietly_on_closed_pipe()
        return EXIT_BROKEN_PIPE


def exit_quietly_on_closed_pipe() -> None:
    """Point stdout at /dev/null so that Python's flush at exit finds no closed pipe
    (and prints no second BrokenPipeError)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (captured by a test)
        pass
    finally:
        os.close(devnull)


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from scalinglab.fit.api import FitDataError, fit_law, fit_power_law
    try:
        columns = columns_from(args)
        _check_roles(args, columns)
        frame = _read(args.file)
        common = dict(columns=columns or None, objective=args.objective, huber_delta=args.huber_delta,
                      reduction=args.reduction, space=args.space, starts=_starts(args.starts),
                      optimizer=args.optimizer, bootstrap=args.bootstrap, seed=args.seed,
                      n_jobs=args.jobs, level=args.level, verbose=False)
        if args.law == "power":
            fit = fit_power_law(frame, offset=args.offset, direction=args.direction, **common)
        else:
            options = {"breaks": args.breaks} if args.law == "bnsl" else {}
            fit = fit_law(args.law, frame, **common, **options)
        optimal = None
        if args.optimal_at:
            from scalinglab.fit.optimal import compute_optimal
            optimal = compute_optimal(fit, args.optimal_at)
    except (FitDataError, ValueError) as exc:
        print(f"scalinglab fit: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    if args.json:
        out = fit.to_dict(include_samples=False)
        out.pop("samples", None)
        out.pop("sample_names", None)
        if optimal is not None:
            out["optimal"] = optimal.frame().to_dict(orient="records")
        from scalinglab.fit.result import _jsonable
        print(json.dumps(_jsonable(out), indent=2, ensure_ascii=False))
    else:
        print(fit.summary())
        if optimal is not None:
            level = f"{fit.level:.0%}"
            print(f"compute-optimal allocation: {optimal.method} · loss: the law's prediction at the optimum"
                  + (f" · _lo/_hi: {level} bootstrap bounds" if optimal.intervals else ""))
            print(optimal.frame().to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
