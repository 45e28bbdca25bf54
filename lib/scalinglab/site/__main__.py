"""``python -m scalinglab.site build|check|demo|serve``.

    python -m scalinglab.site build [--profile cpu|gpu] [--out build/site]
    python -m scalinglab.site check [--dir build/site/html]
    python -m scalinglab.site demo [--out build/site-demo]
    python -m scalinglab.site serve [--port 8000] [--dir build/site/html]

``build`` shows the results of record under results/ at the highest recorded profile
(gpu, then cpu; ``--profile`` picks another), and the ci run under build/ (when there is
one) on a page of its own, labelled as the smoke test. Without a record it shows the ci
run in its place, saying so; with neither it stops, naming ``make record``.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import subprocess
import sys
from pathlib import Path

from scalinglab.base.paths import build_dir, project_root
from scalinglab.base.profiles import PROFILES
from scalinglab.site.build import SiteBuildError, build_site
from scalinglab.site.inputs import SiteInputError, resolve_runs


def _dirs(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    root = project_root()
    results = Path(args.results) if args.results else root / "results"
    build = Path(args.build) if args.build else build_dir()
    return root, results, build


def _build(args: argparse.Namespace) -> int:
    root, results, build = _dirs(args)
    record, smoke = resolve_runs(results, build, profile=args.profile, root=root)
    _ensure_mathjax(root)
    catalogue = Path(args.catalogue) if args.catalogue else root / "data" / "papers.yaml"
    result = build_site(record, catalogue, Path(args.out), smoke=smoke, docs_dir=root / "docs",
                        quiet=not args.verbose)
    index = result.html_dir / "index.html"
    shown = (f"the results of record at the {record.profile} profile ({record.root})" if record
             else "the ci smoke run only: there are no results of record (run `make record`)")
    extra = f", with the ci smoke test on its own page" if record and smoke else ""
    print(f"site: {result.pages} pages ({len(result.papers)} papers) built in {result.seconds:.1f} s "
          f"from {shown}{extra} -> {index}")
    print("serve it with `make serve` (python -m scalinglab.site serve)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from scalinglab.site.check import check_built_site
    root, results, build = _dirs(args)
    report = check_built_site(Path(args.dir), results=results, build=build, root=root,
                              scorecard=Path(args.scorecard) if args.scorecard else None,
                              screenshots=Path(args.screenshots))
    for problem in report.problems:
        print(problem)
    print(f"checked {len(report.pages)} pages, {report.images} images, {report.links} internal links "
          f"against {', '.join(str(p) for p in report.scorecards)}: {len(report.problems)} problem(s); "
          f"screenshots in {args.screenshots}")
    return 1 if report.problems else 0


def _demo(args: argparse.Namespace) -> int:
    from scalinglab.site.fixtures import make_fixture_record
    out = Path(args.out)
    inputs = make_fixture_record(out / "inputs")
    _ensure_mathjax(project_root())
    result = build_site(inputs["record_run"], inputs["catalogue"], out, smoke=inputs["smoke_run"])
    print(f"demo site: {result.pages} pages in {result.seconds:.1f} s -> {result.html_dir / 'index.html'}")
    print(f"check it with `python -m scalinglab.site check --dir {result.html_dir} "
          f"--results {inputs['results']} --build {inputs['build']}`")
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
                                     description="build, check or serve the scalinglab static site")
    sub = parser.add_subparsers(dest="command", required=True)

    def inputs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--results", default=None, help="the results of record (default results/)")
        p.add_argument("--build", default=None, help="where the ci run is (default build/)")

    b = sub.add_parser("build", help="build the site from the record under results/ and the ci run")
    b.add_argument("--profile", default=None,
                   choices=[p for p in PROFILES if p != "ci"],
                   help="the recorded profile to show (default: the highest recorded)")
    b.add_argument("--out", default=str(build_dir() / "site"), help="output folder (HTML in OUT/html)")
    b.add_argument("--catalogue", default=None, help="the catalogue (default data/papers.yaml)")
    inputs(b)
    b.add_argument("--verbose", action="store_true", help="show Sphinx's output")
    c = sub.add_parser("check", help="load every page in headless chromium and check it")
    c.add_argument("--dir", default=str(build_dir() / "site" / "html"))
    c.add_argument("--scorecard", default=None,
                   help="the scorecard the home page must show (default: the one the site was built from)")
    inputs(c)
    c.add_argument("--screenshots", default=str(build_dir() / "screenshots"))
    d = sub.add_parser("demo", help="build a demo site from a small made-up record and ci run")
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
