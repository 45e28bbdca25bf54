"""The site's "Fit your own runs" page: its examples run at every build, what it shows is
what the commands and the Python example print, and its example CSV downloads."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from scalinglab.site.examples import (
    COMMANDS, CSV_NAME, HOFFMANN, PYTHON_EXAMPLE, Command, ExampleError, example_csv,
    example_runs, fit_examples, run_command, run_python,
)

ROOT = Path(__file__).resolve().parents[1]
PAGE = "methods/fit-your-own-runs"


def _blocks(snippet: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a generated snippet: (language, text)."""
    return [(m.group(2), m.group(3)) for m in
            re.finditer(r"^(`{3,})(\w*)\n(.*?)\n\1$", snippet, re.S | re.M)]


def _shown_argv(console: str) -> list[str]:
    """The arguments after `scalinglab <program>` of a shown command line."""
    assert console.startswith("$ ")
    words = shlex.split(console[2:].replace("\\\n", " "))
    assert words[0] == "scalinglab"
    return words[2:]


@pytest.fixture(scope="module")
def files():
    return fit_examples()


def test_the_example_csv_is_deterministic_runs_of_a_known_law():
    assert example_csv() == example_csv()
    runs = example_runs()
    assert list(runs.columns) == ["flops", "params", "tokens", "val_loss"]
    budgets = sorted(runs["flops"].unique())
    assert 5 <= len(budgets) <= 6 and budgets[0] == 1e18 and budgets[-1] == 1e21
    assert all(7 <= n <= 9 for n in runs.groupby("flops").size())
    # tokens are the budget spent on the model: C = 6ND to the rounding of the file
    N, D = runs["params"].astype(float), runs["tokens"].astype(float)  # 6ND overflows int64
    assert ((6 * N * D / runs["flops"] - 1).abs() < 0.01).all()
    # the losses are the law's within a few percent of noise
    p = HOFFMANN
    law = p["E"] + p["A"] / runs["params"] ** p["alpha"] + p["B"] / runs["tokens"] ** p["beta"]
    assert ((runs["val_loss"] / law - 1).abs() < 0.05).all()


def test_the_examples_run_and_print_the_fit(files):
    assert set(files) == {CSV_NAME, "python.md", *(f"{c.name}.md" for c in COMMANDS)}
    for name, text in files.items():
        assert "Traceback" not in text, name
    fit = files["fit.md"]
    for param in ("E", "A", "B", "alpha", "beta", "a", "b"):
        assert re.search(rf"^\s+{param} = [0-9.e+-]+\s+95% \[", fit, re.M), param
    assert re.search(r"^\s+converged$", fit, re.M)
    assert "RSS (Σr², log space)" in fit
    assert "tokens_per_param" in fit  # --optimal-at
    for name in ("isoflop-6nd.md", "isoflop-fit.md"):
        text = files[name]
        assert re.search(r"^a = [0-9.]+ 95% \[.*\(N\* ∝ C\^a\)$", text, re.M), name
        assert re.search(r"^b = [0-9.]+ 95% \[.*\(D\* ∝ C\^b\)$", text, re.M), name
        assert "6 of 6 budgets used" in text
    assert "tokens='fit'" in files["isoflop-fit.md"] and "tokens='6ND'" in files["isoflop-6nd.md"]
    # the fits land near the law the runs were drawn from
    alpha = float(re.search(r"alpha = ([0-9.]+)", fit).group(1))
    assert abs(alpha - HOFFMANN["alpha"]) < 0.05


def test_the_json_excerpt_is_the_commands_json(files):
    (_, console), (lang, excerpt) = _blocks(files["fit-json.md"])
    assert lang == "json" and "--json" in _shown_argv(console)
    data = json.loads(excerpt)
    assert data["converged"] is True and data["failure"] == []
    assert {"a", "b", "alpha", "beta", "E"} <= set(data["params"]) and "alpha" in data["intervals"]
    assert data["rss"] > 0 and data["rmse"] == pytest.approx((data["rss"] / 54) ** 0.5)
    assert "objective_definition" in data
    assert "`settings`" in files["fit-json.md"]  # the keys left out are named


def test_the_command_shown_is_the_command_run(files, tmp_path):
    for command in COMMANDS:
        (_, console), *_ = _blocks(files[f"{command.name}.md"])
        assert _shown_argv(console) == command.argv, command.name
    # and it prints the same from a real shell as in the build's process
    (tmp_path / CSV_NAME).write_text(files[CSV_NAME])
    command = next(c for c in COMMANDS if c.name == "isoflop-fit")
    (_, console), (_, shown) = _blocks(files["isoflop-fit.md"])
    proc = subprocess.run([sys.executable, "-m", "scalinglab.cli", "isoflop", *_shown_argv(console)],
                          cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    printed = "\n".join(line.rstrip() for line in (proc.stderr + proc.stdout).splitlines())
    assert printed == shown


def test_the_python_example_shows_its_code_and_what_it_prints(files, tmp_path):
    (lang, code), (_, shown) = _blocks(files["python.md"])
    assert lang == "python" and code == PYTHON_EXAMPLE.rstrip()
    (tmp_path / CSV_NAME).write_text(files[CSV_NAME])
    printed = run_python(PYTHON_EXAMPLE, tmp_path)
    assert "\n".join(line.rstrip() for line in printed.splitlines()) == shown
    assert "converged" in shown and "IsoFLOP Approach 2: a = " in shown


def test_a_failing_example_is_an_error(tmp_path):
    (tmp_path / CSV_NAME).write_text(example_csv())
    with pytest.raises(ExampleError, match="exited with status 2"):
        run_command(Command("bad", "fit", ("--law", "chinchilla", "--N", "no_such_column")), tmp_path)
    with pytest.raises(ExampleError, match="ZeroDivisionError"):
        run_python("print(1 / 0)", tmp_path)
    assert os.getcwd() != str(tmp_path)  # the working folder is restored


# ----------------------------------------------------------------------------------
# The built page
# ----------------------------------------------------------------------------------
class _Page(HTMLParser):
    """The links of a page and the text of its <pre> blocks."""

    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.pre: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")
        if tag == "pre":
            self._depth += 1
            self.pre.append("")

    def handle_endtag(self, tag):
        if tag == "pre":
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.pre[-1] += data


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from scalinglab.site.build import find_mathjax
    from scalinglab.site.catalogue import load_catalogue
    from scalinglab.site.fixtures import fixture_catalogue, shared_fixture_site
    from scalinglab.site.inputs import SiteInputError
    try:
        find_mathjax(ROOT)
    except SiteInputError as exc:
        pytest.skip(f"{exc}")
    # the fixture site test_site.py builds (shared when both run in one session)
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "fixture-site"
    catalogue = load_catalogue(ROOT / "data" / "papers.yaml") + fixture_catalogue()
    return shared_fixture_site(folder, catalogue)


def test_the_page_is_built_with_the_outputs(site):
    html = site["html"] / f"{PAGE}.html"
    assert html.is_file()
    page = _Page()
    page.feed(html.read_text(encoding="utf-8"))
    shown = [unescape(text).strip("\n") for text in page.pre]
    generated = site["source"] / "_generated" / "fit-your-own-runs"
    for command in COMMANDS:
        for _, block in _blocks((generated / f"{command.name}.md").read_text(encoding="utf-8")):
            assert block in shown, (command.name, block[:80])
    for _, block in _blocks((generated / "python.md").read_text(encoding="utf-8")):
        assert block in shown, block[:80]
    assert any("converged" in text and "alpha = " in text for text in shown)
    index = (site["html"] / "methods" / "index.html").read_text(encoding="utf-8")
    assert 'href="fit-your-own-runs.html"' in index


def test_the_csv_link_downloads_the_example(site):
    html = site["html"] / f"{PAGE}.html"
    page = _Page()
    page.feed(html.read_text(encoding="utf-8"))
    links = [h for h in page.hrefs if urlsplit(h).path.endswith(f"/{CSV_NAME}") or h == CSV_NAME]
    assert links, "no link to the example CSV"
    for href in links:
        assert not urlsplit(href).scheme, href  # served by the site itself
        target = (html.parent / unquote(urlsplit(href).path)).resolve()
        assert target.is_file() and site["html"].resolve() in target.parents, href
        assert target.read_text(encoding="utf-8") == example_csv()
