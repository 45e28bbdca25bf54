"""``python -m scalinglab.site build|serve``.

    python -m scalinglab.site build [--profile ci] [--out build/site]
    python -m scalinglab.site serve [--port 8000] [--dir build/site/html]
"""
from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import subprocess
import sys
from pathlib import Path

from scalinglab.repro.paths import build_dir, project_root
from scalinglab.repro.profiles import PROFILES
from scalinglab.site.build import SiteBuildError, build_site
from scalinglab.site.inputs import SiteInputError


def _build(args: argparse.Namespace) -> int:
    root = project_root()
    build = build_dir()
    notebooks = Path(args.notebooks) if args.notebooks else build / "notebooks" / args.profile
    # the profile's own scorecard when the runner keeps one, else the latest scorecard
    per_profile = build / args.profile / "scorecard.json"
    scorecard = Path(args.scorecard) if args.scorecard else (
        per_profile if per_profile.exists() else build / "scorecard.json")
    if not notebooks.is_dir():
        raise SiteInputError(f"no executed notebooks in {notebooks}: run "
                             f"`make reproduce PROFILE={args.profile}` first")
    from scalinglab.site.inputs import read_scorecard
    card = read_scorecard(scorecard)
    if card.profile != args.profile:
        raise SiteInputError(f"{scorecard} holds the {card.profile} profile, not {args.profile}: run "
                             f"`make reproduce PROFILE={args.profile}` (or build with --profile {card.profile})")
    _ensure_mathjax(root)
    result = build_site(notebooks, scorecard, root / "data" / "papers.yaml", Path(args.out),
                        claims_dir=build / args.profile / "claims", docs_dir=root / "docs",
                        root=root, quiet=not args.verbose)
    index = result.html_dir / "index.html"
    print(f"site: {result.pages} pages ({len(result.papers)} papers) built in {result.seconds:.1f} s "
          f"from the {args.profile} profile -> {index}")
    print("serve it with `make serve` (python -m scalinglab.site serve)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from scalinglab.site.check import check_site
    html_dir = Path(args.dir)
    if not (html_dir / "index.html").exists():
        raise SiteInputError(f"no site in {html_dir}: run `make site` first")
    scorecard = Path(args.scorecard) if Path(args.scorecard).exists() else None
    report = check_site(html_dir, scorecard=scorecard, screenshots=args.screenshots)
    for problem in report.problems:
        print(problem)
    print(f"checked {len(report.pages)} pages, {report.images} images, {report.links} internal links: "
          f"{len(report.problems)} problem(s); screenshots in {args.screenshots}")
    return 1 if report.problems else 0


def _demo(args: argparse.Namespace) -> int:
    from scalinglab.site.fixtures import make_fixture_inputs
    out = Path(args.out)
    inputs = make_fixture_inputs(out / "inputs")
    _ensure_mathjax(root)
    result = build_site(inputs["notebooks_dir"], inputs["scorecard_path"], inputs["catalogue"],
                        out, claims_dir=inputs["claims_dir"])
    print(f"demo site: {result.pages} pages in {result.seconds:.1f} s -> {result.html_dir / 'index.html'}")
    return 0


def _ensure_mathjax(root: Path) -> None:
    """Install MathJax from package-lock.json with npm when it is missing (a fresh clone)."""
    from scalinglab.site.build import find_mathjax
    try:
        find_mathjax(root)
        return
    except SiteInputError:
        if not (root / "package-lock.json").exists() or not shutil.which("npm"):
            raise
    print("site: installing MathJax with `npm ci` (package-lock.json)")
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=root)
    if proc.returncode != 0:
        raise SiteInputError("`npm ci` failed: MathJax is needed to serve math without a CDN")
    find_mathjax(root)


def serve(directory: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    if not (directory / "index.html").exists():
        raise SiteInputError(f"no site in {directory}: run `make site` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        print(f"serving {directory} at http://{host}:{server.server_address[1]}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scalinglab.site",
                                     description="build or serve the scalinglab static site")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the site from build/notebooks/<profile>")
    b.add_argument("--profile", default="ci", choices=PROFILES)
    b.add_argument("--out", default=str(build_dir() / "site"), help="output folder (HTML in OUT/html)")
    b.add_argument("--notebooks", default=None, help="executed notebooks (default build/notebooks/<profile>)")
    b.add_argument("--scorecard", default=None, help="scorecard JSON (default build/scorecard.json)")
    b.add_argument("--verbose", action="store_true", help="show Sphinx's output")
    c = sub.add_parser("check", help="load every page in headless chromium and check it")
    c.add_argument("--dir", default=str(build_dir() / "site" / "html"))
    c.add_argument("--scorecard", default=str(build_dir() / "scorecard.json"))
    c.add_argument("--screenshots", default=str(build_dir() / "screenshots"))
    d = sub.add_parser("demo", help="build a demo site from small made-up inputs")
    d.add_argument("--out", default=str(build_dir() / "site-demo"))
    s = sub.add_parser("serve", help="serve the built site on localhost")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--dir", default=str(build_dir() / "site" / "html"))
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            return _build(args)
        if args.command == "check":
            return _check(args)
        if args.command == "demo":
            return _demo(args)
        serve(Path(args.dir), args.host, args.port)
        return 0
    except (SiteInputError, SiteBuildError, ValueError) as exc:
        print(f"scalinglab.site: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
