"""Plain-text formulas as TeX, so the site shows them as math.

The fitting laws carry their form as code-like text (``E + A/N^alpha + B/D^beta``,
``A·x^(−alpha)``); :func:`formula_tex` turns that notation into TeX for MathJax:
``^`` takes the next token or parenthesised group as its exponent, Greek names become
letters, a trailing digit or ``_x`` a subscript, ``·`` a product dot. Anything it does
not understand raises ValueError, and the caller shows the text as code instead.
"""
from __future__ import annotations

import re

GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "kappa",
         "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega"}
FUNCTIONS = {"log", "exp", "ln", "min", "max"}
SYMBOLS = {"·": r"\cdot ", "−": "-", "Π": r"\prod_i ", "Σ": r"\sum_i ", "×": r"\times ",
           "≈": r"\approx ", "∝": r"\propto ", "~": r"\sim "}

_TOKEN = re.compile(r"\s+|[A-Za-z][A-Za-z0-9_]*'?|\d+(?:\.\d+)?|[()\[\]^/+\-=,*]|[·−ΠΣ×≈∝~]")


def _name(word: str) -> str:
    """alpha_N -> \\alpha_{N}; N_c -> N_{c}; c0 -> c_{0}; R_D_star -> R_{D,star};
    intercept -> \\mathrm{intercept}; N' -> N'."""
    prime = "'" if word.endswith("'") else ""
    word = word.rstrip("'")
    base, *subs = word.split("_")
    digits = re.fullmatch(r"([A-Za-z]+?)(\d+)", base)
    if digits and not subs:
        base, subs = digits.group(1), [digits.group(2)]
    if base in GREEK:
        tex = "\\" + base
    elif base in FUNCTIONS:
        tex = "\\" + base + " "
    elif len(base) == 1:
        tex = base
    else:
        tex = r"\mathrm{" + base + "}"
    if subs:
        sub = ",".join(("\\" + s if s in GREEK else s) for s in subs)
        tex += "_{" + sub + "}"
    return tex + prime


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot read {text[pos:]!r} as a formula")
        out.append(m.group(0))
        pos = m.end()
    return out


def _group_end(tokens: list[str], start: int) -> int:
    """Index of the bracket closing the one at ``start``."""
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i] in "([":
            depth += 1
        elif tokens[i] in ")]":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced brackets")


def _convert(tokens: list[str]) -> str:
    out, i = [], 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "^":
            i += 1
            while i < len(tokens) and tokens[i].isspace():
                i += 1
            if i >= len(tokens):
                raise ValueError("^ without an exponent")
            if tokens[i] == "(":
                end = _group_end(tokens, i)
                out.append("^{" + _convert(tokens[i + 1:end]) + "}")
                i = end + 1
                continue
            exp = [tokens[i]]
            if tokens[i] in ("−", "-") and i + 1 < len(tokens):  # x^-0.5
                exp.append(tokens[i + 1])
                i += 1
            out.append("^{" + _convert(exp) + "}")
            i += 1
            continue
        if tok.isspace():
            out.append(" ")
        elif tok in SYMBOLS:
            out.append(SYMBOLS[tok])
        elif re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*'?", tok):
            out.append(_name(tok))
        elif tok == "[":
            out.append(r"\left[")
        elif tok == "]":
            out.append(r"\right]")
        else:
            out.append(tok)
        i += 1
    return re.sub(r" +", " ", "".join(out)).strip()


def formula_tex(text: str) -> str:
    """TeX for a formula written as plain text; ValueError when it cannot be read."""
    tokens = _tokens(text)
    for i, tok in enumerate(tokens):
        if tok in "([":
            _group_end(tokens, i)  # raises on unbalanced brackets
    if sum(t in "([" for t in tokens) != sum(t in ")]" for t in tokens):
        raise ValueError("unbalanced brackets")
    return _convert(tokens)


# -- powers written with a caret inside prose ------------------------------------------
GREEK_LETTERS = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε",
                 "zeta": "ζ", "eta": "η", "theta": "θ", "kappa": "κ", "lambda": "λ", "mu": "μ",
                 "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ",
                 "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω"}
_GROUP = r"\((?:[^()]|\([^()]*\))*\)"
_POWER = re.compile(
    r"(?P<base>\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)?|\))\^"
    r"(?P<exp>[-−]?" + _GROUP + r"|[-−]?[A-Za-z0-9.]+(?:_[A-Za-z0-9]+)?(?:/[A-Za-z0-9.]+(?:_[A-Za-z0-9]+)?)?)")
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)?")


def _symbol_html(word: str) -> str:
    """alpha_N -> α<sub>N</sub>; C_min -> C<sub>min</sub>; N -> N."""
    import html
    base, _, sub = word.partition("_")
    base_html = GREEK_LETTERS.get(base, html.escape(base))
    if sub:
        base_html += f"<sub>{GREEK_LETTERS.get(sub, html.escape(sub))}</sub>"
    return base_html


def _math_html(text: str) -> str:
    import html
    out, last = [], 0
    for m in _IDENT.finditer(text):
        out.append(html.escape(text[last:m.start()]).replace("-", "−"))
        out.append(_symbol_html(m.group(0)))
        last = m.end()
    out.append(html.escape(text[last:]).replace("-", "−"))
    return "".join(out)


def caret_html(text: str) -> str:
    """Prose with powers written as ``N^-0.076`` or ``T^-(1-1/alpha)`` as HTML with the
    powers as superscripts (Greek names as letters inside them); the rest escaped."""
    import html
    out, last = [], 0
    for m in _POWER.finditer(text):
        out.append(html.escape(text[last:m.start()]))
        exp = m.group("exp")
        sign = "−" if exp[0] in "-−" else ""
        body = exp[1:] if sign else exp
        if body.startswith("(") and body.endswith(")") and not sign:
            body = body[1:-1]
        base = m.group("base")
        out.append((")" if base == ")" else _symbol_html(base))
                   + f"<sup>{sign}{_math_html(body)}</sup>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)
