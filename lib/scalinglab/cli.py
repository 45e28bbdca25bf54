"""The ``scalinglab`` command.

    scalinglab reproduce [--papers a,b] [--profile ci|cpu|gpu] [--jobs N] [--force]
                         [--param name=value ...]
    scalinglab golden [--papers a,b]        refresh the stored (ci-profile) outputs
    scalinglab golden-check [--papers a,b] [--variants threads,kernels,perturb]
                                            do the stored outputs survive other rounding?
    scalinglab fit FILE.csv --law chinchilla --N COL --D COL --loss COL [...]
    scalinglab isoflop FILE.csv --approach 2 --C COL --N COL --loss COL [...]
    scalinglab data list [--json]           the published files the registry pins
    scalinglab data fetch NAME [--output P] a verified local copy of one
    scalinglab new-paper ID --title "..."   scaffold a notebook that passes the checks
    scalinglab profiles                     the profiles and their budgets
    scalinglab --version
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any

from scalinglab.base import __version__, paths
from scalinglab.base.profiles import BUDGET_S, EXECUTORS, PROFILES, ParameterError

# a closed pipe (`scalinglab ... | head -1`) ends every command quietly, with status 141
from scalinglab.fit.cli import quiet_on_closed_pipe


def _papers(value: str | None) -> list[str] | None:
    """None (every notebook) when unset or empty; else the names, which must not all be
    blank (``PAPERS=,`` or ``PAPERS=" "`` names no paper and is an error)."""
    if value is None or value == "":
        return None
    names = [p.strip() for p in value.replace(" ", ",").split(",") if p.strip()]
    if not names:
        raise ParameterError(f"papers={value!r} names no paper; give comma-separated notebook "
                             "names, or leave it unset to run them all")
    return names


def _int_option(name: str, value: str | int | None) -> int | None:
    """An integer option given on the command line or in the environment (JOBS=)."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise ParameterError(f"{name}={value!r} must be an integer") from None


def _notebook_params(env_value: str | None, given: list[str] | None) -> dict[str, Any]:
    """Notebook parameters from PARAMS="a=1 b=x" and repeated --param name=value (which
    win); values are Python literals, else strings."""
    from scalinglab.repro.parameters import parse_assignment
    try:
        items = shlex.split(env_value or "")
    except ValueError as exc:
        raise ParameterError(f"PARAMS={env_value!r} cannot be split into name=value items ({exc})") from None
    out: dict[str, Any] = {}
    for item in [*items, *(given or [])]:
        name, value = parse_assignment(item)
        out[name] = value
    return out


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


# the commands that run, check or add the repository's notebooks
CHECKOUT_COMMANDS = ("reproduce", "record", "golden", "golden-check", "new-paper")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scalinglab", description="Reproduce neural scaling-law papers, fit scaling laws to "
        "your runs, and load the data papers released.")
    parser.add_argument("--version", action="version", version=f"scalinglab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("reproduce", help="execute paper notebooks and write the scorecard")
    rep.add_argument("--papers", default=os.environ.get("PAPERS") or None,
                     help="comma-separated notebook names (default: all)")
    rep.add_argument("--profile", default=os.environ.get("PROFILE") or None,
                     help="ci|cpu|gpu (default: gpu when CUDA is available, else cpu)")
    rep.add_argument("--jobs", default=os.environ.get("JOBS") or None,
                     help="notebooks run in parallel (default: all cores at ci, else 1)")
    rep.add_argument("--force", action="store_true", default=_env_flag("FORCE"),
                     help="rerun notebooks whose inputs did not change")
    rep.add_argument("--executor", default=os.environ.get("EXECUTOR") or "local",
                     help="|".join(EXECUTORS) + ": where notebooks run their sweeps")
    rep.add_argument("--workers", default=os.environ.get("WORKERS") or None,
                     help="sweep workers per notebook (default 1 at ci, else the cores per notebook)")
    rep.add_argument("--device", default=os.environ.get("DEVICE") or "auto",
                     help="auto|cpu|cuda|mps")
    rep.add_argument("--param", action="append", metavar="NAME=VALUE",
                     help="a notebook parameter, e.g. bootstrap=200 (repeatable; also "
                          "PARAMS=\"a=1 b=2\"); every selected notebook must declare it")
    rep.add_argument("--no-progress", action="store_true")

    rec = sub.add_parser("record", help="run notebooks at a profile and commit-ready results "
                         "under results/<profile>/ (the scorecard of record)")
    rec.add_argument("--papers", default=os.environ.get("PAPERS") or None)
    rec.add_argument("--profile", default=os.environ.get("PROFILE") or None,
                     help="cpu|gpu (default: gpu when CUDA is available, else cpu)")
    rec.add_argument("--jobs", default=os.environ.get("JOBS") or None)
    rec.add_argument("--workers", default=os.environ.get("WORKERS") or None)
    rec.add_argument("--force", action="store_true", default=_env_flag("FORCE"))
    rec.add_argument("--device", default=os.environ.get("DEVICE") or "auto")
    rec.add_argument("--no-progress", action="store_true")
    rec.add_argument("--check", action="store_true",
                     help="only list the notebooks whose record is missing or out of date")

    gold = sub.add_parser("golden", help="re-execute notebooks in place at the ci profile")
    gold.add_argument("--papers", default=os.environ.get("PAPERS") or None)

    check = sub.add_parser("golden-check", help="re-execute the ci profile under other "
                           "floating-point rounding and compare with the stored outputs")
    check.add_argument("--papers", default=os.environ.get("PAPERS") or None)
    check.add_argument("--variants", default=os.environ.get("VARIANTS") or None,
                       help="comma-separated: threads,kernels,perturb (default) and baseline")
    check.add_argument("--jobs", default=os.environ.get("JOBS") or None,
                       help="notebooks run at a time (default 2)")
    check.add_argument("--no-progress", action="store_true")

    fit = sub.add_parser("fit", help="fit a scaling law to a CSV of runs", add_help=False)
    fit.add_argument("rest", nargs=argparse.REMAINDER)

    iso = sub.add_parser("isoflop", help="compute-optimal exponents from IsoFLOP runs "
                         "(Hoffmann et al.'s Approaches 1 and 2)", add_help=False)
    iso.add_argument("rest", nargs=argparse.REMAINDER)

    data = sub.add_parser("data", help="published files from other repositories: list them, "
                          "fetch a verified copy", add_help=False)
    data.add_argument("rest", nargs=argparse.REMAINDER)

    new = sub.add_parser("new-paper", help="scaffold a paper notebook")
    new.add_argument("paper", help="id such as smith2024_topic")
    new.add_argument("--title", required=True)
    new.add_argument("--citation", default="")
    new.add_argument("--no-execute", action="store_true",
                     help="write the notebook without storing its ci outputs")

    sub.add_parser("profiles", help="list the profiles and their budgets")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; a closed stdout (``| head``) ends it quietly."""
    return quiet_on_closed_pipe(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `scalinglab fit` has its own parser; pass its arguments through untouched.
    if argv[:1] == ["fit"]:
        from scalinglab.fit.cli import main as fit_main
        return fit_main(argv[1:])
    if argv[:1] == ["isoflop"]:
        from scalinglab.fit.isoflop_cli import main as isoflop_main
        return isoflop_main(argv[1:])
    if argv[:1] == ["data"]:
        from scalinglab.data.cli import main as data_main
        return data_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command in CHECKOUT_COMMANDS and paths.checkout_root() is None:
        print(f"scalinglab: `scalinglab {args.command}` works in a scalinglab checkout (its notebooks/, "
              "data/ and results/), and this scalinglab is an installed package; clone the repository "
              "and run it there, or set SCALINGLAB_ROOT to a checkout", file=sys.stderr)
        return 2
    try:
        if args.command == "reproduce":
            from scalinglab.repro.runner import reproduce
            jobs = _int_option("jobs", args.jobs)
            workers = _int_option("workers", args.workers)
            outcomes = reproduce(_papers(args.papers), profile=args.profile, jobs=jobs,
                                 force=args.force, executor=args.executor,
                                 workers=workers,
                                 device=args.device, progress=not args.no_progress,
                                 params=_notebook_params(os.environ.get("PARAMS"), args.param))
            return 1 if any(o.status == "failed" for o in outcomes) else 0
        if args.command == "record":
            from scalinglab.repro import record as rec
            if args.check:
                profile = args.profile or "cpu"
                stale = rec.stale_papers(profile, papers=_papers(args.papers))
                for paper, reasons in stale.items():
                    print(f"{paper}: {'; '.join(reasons)}")
                if stale:
                    print(f"refresh with: {rec.refresh_command(stale, profile)}")
                else:
                    print(f"the {profile} record is up to date")
                return 1 if stale else 0
            try:
                failed = rec.record(_papers(args.papers), profile=args.profile,
                                    jobs=_int_option("jobs", args.jobs),
                                    workers=_int_option("workers", args.workers),
                                    force=args.force, device=args.device,
                                    progress=not args.no_progress)
            except rec.RecordError as exc:  # a malformed record on disk
                print(f"scalinglab: {exc}", file=sys.stderr)
                return 2
            return 1 if failed else 0
        if args.command == "golden":
            from scalinglab.repro.runner import golden
            return 1 if golden(_papers(args.papers)) else 0
        if args.command == "golden-check":
            from scalinglab.repro.goldencheck import golden_check
            jobs = _int_option("jobs", args.jobs)
            variants = [v.strip() for v in (args.variants or "").split(",") if v.strip()]
            return golden_check(_papers(args.papers), variants=variants or None,
                                jobs=2 if jobs is None else jobs, progress=not args.no_progress)
        if args.command == "new-paper":
            from scalinglab.repro.scaffold import new_paper
            new_paper(args.paper, title=args.title, citation=args.citation,
                      execute=not args.no_execute)
            return 0
        if args.command == "profiles":
            for p in PROFILES:
                print(f"{p:4s} budget {BUDGET_S[p]:>5d} s per notebook")
            return 0
    except ParameterError as exc:
        print(f"scalinglab: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
