"""The worked examples of the site's "Fit your own runs" page, run at every site build.

    files = fit_examples()   # {"runs.csv": ..., "fit.md": ..., ...}

:func:`example_runs` makes a small CSV of IsoFLOP-style training runs from a known
Chinchilla law; :func:`fit_examples` runs on it, in this process, the commands the page
shows (``scalinglab fit``, ``scalinglab isoflop``) and a Python example, and returns the
CSV and, for each example, a Markdown snippet with the command (or code) and what it
printed, stdout and stderr as a terminal shows them. The page includes the snippets
(``site/methods/fit-your-own-runs.md``), so what it shows is what the code prints now,
never pasted by hand. The Python example is one string, shown and executed as it is.

A command that exits with a non-zero status, or code that raises, is an
:class:`ExampleError`: the site build fails rather than show a broken example.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

CSV_NAME = "runs.csv"
SEED = 2022
NOISE = 0.01  # sd of the log-normal noise on each loss (about 1%)
# The law the runs are drawn from: Hoffmann et al. 2022, Eq. 10 (the fitted Chinchilla
# law, L(N, D) = E + A/N^alpha + B/D^beta).
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
BUDGETS = (1e18, 4e18, 1.6e19, 6.3e19, 2.5e20, 1e21)  # training FLOPs, ~log-spaced
SPREAD = np.linspace(-0.9, 0.9, 9)  # log10 of N / N*(C): 9 model sizes per budget

# the keys of `scalinglab fit --json` the page shows; the others are listed by name
JSON_EXCERPT = ("params", "intervals", "objective", "objective_definition", "rss", "rmse",
                "converged", "at_bound", "failure")


class ExampleError(RuntimeError):
    """An example failed (non-zero exit status or an exception); the message has its output."""


def _sig(x: float, digits: int = 3) -> float:
    return float(f"{x:.{digits}g}")


def example_runs(seed: int = SEED, noise: float = NOISE):
    """A DataFrame of training runs, one row per run, with user-style column names:
    ``flops`` (the budget C), ``params`` (N), ``tokens`` (D = C/(6N), to 3 significant
    digits) and ``val_loss`` (Hoffmann et al.'s law times exp(noise·z), z standard
    normal from ``seed``). The sizes of each budget are spread around the law's
    compute-optimal N*(C), as an IsoFLOP sweep would place them."""
    import pandas as pd

    p = HOFFMANN
    E, A, B, alpha, beta = p["E"], p["A"], p["B"], p["alpha"], p["beta"]
    # the law's compute-optimal N*(C) = G·(C/6)^(beta/(alpha+beta)) (Hoffmann et al. Eq. 4)
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    rng = np.random.default_rng(seed)
    rows = []
    for C in BUDGETS:
        n_opt = G * (C / 6) ** (beta / (alpha + beta))
        for step in SPREAD:
            N = _sig(n_opt * 10 ** step)
            D = _sig(C / (6 * N))
            loss = (E + A / N ** alpha + B / D ** beta) * np.exp(noise * rng.standard_normal())
            rows.append({"flops": C, "params": int(N), "tokens": int(D), "val_loss": round(float(loss), 4)})
    return pd.DataFrame(rows, columns=["flops", "params", "tokens", "val_loss"])


def example_csv(seed: int = SEED, noise: float = NOISE) -> str:
    """:func:`example_runs` as CSV text, the budgets written as 1e+18, 4e+18, ..."""
    runs = example_runs(seed, noise)
    return runs.assign(flops=[f"{c:.3g}" for c in runs["flops"]]).to_csv(index=False)


# ----------------------------------------------------------------------------------
# The examples
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    """One command line of the page: ``scalinglab <program> runs.csv <args>``."""

    name: str  # the snippet's file stem
    program: str  # "fit" or "isoflop"
    args: tuple[str, ...]  # after the file name

    @property
    def argv(self) -> list[str]:
        return [CSV_NAME, *self.args]

    def line(self, width: int = 88) -> str:
        """The command as typed, wrapped with backslashes at option boundaries."""
        words = ["scalinglab", self.program, CSV_NAME]
        args = list(self.args)
        while args:  # an option and its value stay together
            take = 2 if len(args) > 1 and args[0].startswith("--") and not args[1].startswith("--") else 1
            words.append(" ".join(shlex.quote(a) for a in args[:take]))
            args = args[take:]
        lines, current = [], "$"
        for word in words:
            if len(current) + 1 + len(word) > width - 2 and current.strip() not in ("$", ""):
                lines.append(current + " \\")
                current = "   "
            current += " " + word
        lines.append(current)
        return "\n".join(lines)


FIT_COLUMNS = ("--N", "params", "--D", "tokens", "--loss", "val_loss")
COMMANDS = (
    Command("fit", "fit", ("--law", "chinchilla", *FIT_COLUMNS, "--bootstrap", "200",
                           "--optimal-at", "1e21", "--optimal-at", "1e23")),
    Command("fit-json", "fit", ("--law", "chinchilla", *FIT_COLUMNS, "--bootstrap", "200", "--json")),
    Command("isoflop-6nd", "isoflop", ("--approach", "2", "--C", "flops", "--N", "params",
                                       "--loss", "val_loss", "--bootstrap", "200")),
    Command("isoflop-fit", "isoflop", ("--approach", "2", "--C", "flops", "--N", "params",
                                       "--D", "tokens", "--loss", "val_loss", "--tokens", "fit",
                                       "--bootstrap", "200")),
)

PYTHON_EXAMPLE = '''\
import pandas as pd
from scalinglab.fit import (allocation_table, fit_law, isoflop_approach2,
                            parameter_table)

runs = pd.read_csv("runs.csv")
columns = {"N": "params", "D": "tokens", "loss": "val_loss"}
fit = fit_law("chinchilla", runs, columns=columns, objective="huber",
              bootstrap=200, verbose=False)
lo, hi = fit.interval("alpha")
print(f"alpha = {fit.params['alpha']:.4f}, 95% [{lo:.4f}, {hi:.4f}]; {fit.message}")
print(f"objective = {fit.objective:.4g}, RSS = {fit.stats['rss']:.4g}, "
      f"RMSE = {fit.stats['rmse']:.4g}")

# the published law, scored on the same runs with the same objective
hoffmann = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
print(parameter_table({"ours": fit, "Hoffmann et al.": hoffmann}, objective_on=fit))
print(allocation_table({"ours": fit, "Hoffmann et al.": hoffmann}, [1e21, 1e23]))

iso = isoflop_approach2(runs, columns={**columns, "C": "flops"}, tokens="fit",
                        bootstrap=200, verbose=False)
lo, hi = iso.a_interval
print(f"IsoFLOP Approach 2: a = {iso.a:.4f}, 95% [{lo:.4f}, {hi:.4f}]; "
      f"b = {iso.b:.4f}")
'''


def _program(name: str) -> Callable[[Sequence[str]], int]:
    if name == "fit":
        from scalinglab.fit.cli import main
    elif name == "isoflop":
        from scalinglab.fit.isoflop_cli import main
    else:
        raise ValueError(f"no such program: {name}")
    return main


@contextlib.contextmanager
def _in_folder(folder: Path):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _capture(call: Callable[[], object]) -> tuple[object, str]:
    """Run ``call`` with stdout and stderr into one buffer, in the order written (as a
    terminal shows them); returns (its value, the text)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        value = call()
    return value, buffer.getvalue()


def run_command(command: Command, folder: Path) -> str:
    """What ``command`` prints, run in ``folder`` (where runs.csv is)."""
    main = _program(command.program)
    with _in_folder(folder):
        try:
            code, text = _capture(lambda: main(command.argv))
        except (Exception, SystemExit) as exc:  # SystemExit too: a failing example must not end the build
            raise ExampleError(f"`{command.line()}` raised {type(exc).__name__}: {exc}\n"
                               + traceback.format_exc()) from exc
    if code != 0:
        raise ExampleError(f"`{command.line()}` exited with status {code}:\n{text}")
    return text


def run_python(code: str, folder: Path) -> str:
    """What ``code`` prints, executed in a fresh namespace in ``folder``."""
    namespace: dict[str, object] = {"__name__": "__example__"}
    with _in_folder(folder):
        try:
            _, text = _capture(lambda: exec(compile(code, "<fit-your-own-runs example>", "exec"), namespace))
        except (Exception, SystemExit) as exc:
            raise ExampleError(f"the Python example raised {type(exc).__name__}: {exc}\n"
                               + traceback.format_exc()) from exc
    return text


# ----------------------------------------------------------------------------------
# Markdown snippets
# ----------------------------------------------------------------------------------
def _fence(text: str, language: str) -> str:
    """``text`` as a fenced code block, the fence longer than any backtick run in it."""
    run, best = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        best = max(best, run)
    fence = "`" * max(3, best + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}\n"


def _strip_trailing(text: str) -> str:
    """Trailing spaces of each line off (pandas pads its last column)."""
    return "\n".join(line.rstrip() for line in text.splitlines())


def command_snippet(command: Command, output: str) -> str:
    return _fence(command.line(), "console") + "\n" + _fence(_strip_trailing(output), "text")


def json_excerpt(output: str, keys: Sequence[str] = JSON_EXCERPT) -> tuple[str, list[str]]:
    """The printed JSON object cut to ``keys`` (valid JSON, one entry per line for the
    nested objects; strings escaped as the command escapes them), and the names of the
    keys left out."""
    data = json.loads(output)
    kept = [k for k in keys if k in data]
    lines = []
    for i, key in enumerate(kept):
        value = data[key]
        comma = "," if i < len(kept) - 1 else ""
        if isinstance(value, dict) and value:
            inner = [f'    {json.dumps(k)}: {json.dumps(v)}' for k, v in value.items()]
            lines.append(f"  {json.dumps(key)}: {{\n" + ",\n".join(inner) + f"\n  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    return "{\n" + "\n".join(lines) + "\n}", [k for k in data if k not in kept]


def json_snippet(command: Command, output: str) -> str:
    excerpt, left_out = json_excerpt(output)
    note = ("An excerpt: the object also has " + ", ".join(f"`{k}`" for k in left_out) + ".\n"
            if left_out else "")
    return _fence(command.line(), "console") + "\n" + _fence(excerpt, "json") + "\n" + note


def python_snippet(code: str, output: str) -> str:
    return _fence(code, "python") + "\n" + _fence(_strip_trailing(output), "text")


def fit_examples(folder: str | Path | None = None) -> dict[str, str]:
    """Write runs.csv into ``folder`` (a temporary one when None), run every example
    there, and return the page's files: ``runs.csv``, one ``<name>.md`` per command of
    :data:`COMMANDS` and ``python.md`` (the code of :data:`PYTHON_EXAMPLE` and what it
    printed). Raises :class:`ExampleError` when an example fails."""
    csv = example_csv()
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="scalinglab-examples-"))
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CSV_NAME).write_text(csv, encoding="utf-8")
        files = {CSV_NAME: csv}
        for command in COMMANDS:
            output = run_command(command, folder)
            snippet = json_snippet if "--json" in command.args else command_snippet
            files[f"{command.name}.md"] = snippet(command, output)
        files["python.md"] = python_snippet(PYTHON_EXAMPLE, run_python(PYTHON_EXAMPLE, folder))
    return files


__all__ = ["COMMANDS", "CSV_NAME", "Command", "ExampleError", "HOFFMANN", "PYTHON_EXAMPLE",
           "example_csv", "example_runs", "fit_examples", "run_command", "run_python"]
