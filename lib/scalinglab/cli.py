"""The ``scalinglab`` command.

    scalinglab reproduce [--papers a,b] [--profile ci|cpu|gpu] [--jobs N] [--force]
    scalinglab golden [--papers a,b]        refresh the stored (ci-profile) outputs
    scalinglab fit FILE.csv --law chinchilla --n COL --d COL --loss COL [...]
    scalinglab new-paper ID --title "..."   scaffold a notebook that passes the checks
    scalinglab profiles                     the profiles and their budgets
"""
from __future__ import annotations

import argparse
import os
import sys

from scalinglab.repro.profiles import BUDGET_S, EXECUTORS, PROFILES, ParameterError


def _papers(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [p.strip() for p in value.replace(" ", ",").split(",") if p.strip()]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scalinglab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("reproduce", help="execute paper notebooks and write the scorecard")
    rep.add_argument("--papers", default=os.environ.get("PAPERS") or None,
                     help="comma-separated notebook names (default: all)")
    rep.add_argument("--profile", default=os.environ.get("PROFILE") or None,
                     help="ci|cpu|gpu (default: gpu when CUDA is available, else cpu)")
    rep.add_argument("--jobs", type=int, default=int(os.environ["JOBS"]) if os.environ.get("JOBS") else None,
                     help="notebooks run in parallel (default: all cores at ci, else 1)")
    rep.add_argument("--force", action="store_true", default=_env_flag("FORCE"),
                     help="rerun notebooks whose inputs did not change")
    rep.add_argument("--executor", default=os.environ.get("EXECUTOR") or "local",
                     help="|".join(EXECUTORS) + ": where notebooks run their sweeps")
    rep.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS") or 1),
                     help="sweep workers per notebook")
    rep.add_argument("--device", default=os.environ.get("DEVICE") or "auto",
                     help="auto|cpu|cuda|mps")
    rep.add_argument("--no-progress", action="store_true")

    gold = sub.add_parser("golden", help="re-execute notebooks in place at the ci profile")
    gold.add_argument("--papers", default=os.environ.get("PAPERS") or None)

    fit = sub.add_parser("fit", help="fit a scaling law to a CSV of runs", add_help=False)
    fit.add_argument("rest", nargs=argparse.REMAINDER)

    new = sub.add_parser("new-paper", help="scaffold a paper notebook")
    new.add_argument("paper", help="id such as smith2024_topic")
    new.add_argument("--title", required=True)
    new.add_argument("--citation", default="")
    new.add_argument("--no-execute", action="store_true",
                     help="write the notebook without storing its ci outputs")

    sub.add_parser("profiles", help="list the profiles and their budgets")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `scalinglab fit` has its own parser; pass its arguments through untouched.
    if argv[:1] == ["fit"]:
        from scalinglab.fit.cli import main as fit_main
        return fit_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "reproduce":
            from scalinglab.repro.runner import reproduce
            outcomes = reproduce(_papers(args.papers), profile=args.profile, jobs=args.jobs,
                                 force=args.force, executor=args.executor, workers=args.workers,
                                 device=args.device, progress=not args.no_progress)
            return 1 if any(o.status == "failed" for o in outcomes) else 0
        if args.command == "golden":
            from scalinglab.repro.runner import golden
            return 1 if golden(_papers(args.papers)) else 0
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
