"""scalinglab.data.mixing: the released loss-file parser and the mixing/step-law fits (no network)."""
import numpy as np
import pytest

from scalinglab.data import mixing

P = "/ckpts/base2//70M_base2_{i}-{a}-{b}/{step}\t/data/pythia-pile.valid.{d}.bin\t{loss}"

# facts_theory §16: 2-domain GitHub/Pile-CC 70M models at step 30,000
R_G = [0.25, 0.375, 0.5, 0.625, 0.75]
GITHUB = [1.4443, 1.3860, 1.3278, 1.2936, 1.2568]


def _text():
    lines = []
    for i, (r, l) in enumerate(zip(R_G, GITHUB), 1):
        lines.append(P.format(i=i, a=r, b=1 - r, step=30000, d="Github", loss=l))
        lines.append(P.format(i=i, a=r, b=1 - r, step=30000, d="Github", loss=l + 0.002))  # repeated evaluation
        lines.append(P.format(i=i, a=r, b=1 - r, step="last", d="Github", loss=9.9))
    return "\n".join(lines) + "\n"


def test_parse_run_name():
    assert mixing.parse_run("70M_RP_3-0.0625-0.125") == ("70M", 3, (0.0625, 0.125))
    assert mixing.parse_run("1B_998-0.3-0.7") == ("1B", 998, (0.3, 0.7))
    with pytest.raises(ValueError):
        mixing.parse_run("notarun")


def test_parse_and_table():
    long = mixing.parse_losses(_text())
    assert len(long) == 10 and set(long.step) == {30000}          # "last" dropped
    t = mixing.mixture_table(long)
    assert len(t) == 5
    np.testing.assert_allclose(t.sort_values("r0")["Github"], np.array(GITHUB) + 0.001)
    np.testing.assert_allclose(mixing.proportions_of(t).sum(axis=1), 1.0)


def test_two_domain_fit_matches_fact_sheet():
    fit = mixing.fit_mixture_law(np.array(R_G)[:, None], np.array(GITHUB), starts=8)
    assert fit.converged
    # facts_theory §16 (compiler's fit): c = 1.110, k = 0.505, t = -1.64, max residual 0.0044
    assert fit.c == pytest.approx(1.110, abs=0.01)
    assert fit.t[0] == pytest.approx(-1.64, abs=0.03)
    assert np.abs(fit.predict(np.array(R_G)[:, None]) - GITHUB).max() < 0.005


def test_simplex_fit_recovers_law():
    rng = np.random.default_rng(1)
    r = rng.dirichlet(np.ones(3), 30)
    t = np.array([-1.0, -2.0, 0.5])
    y = mixing.mixture_law(r, 2.0, 1.0, t)
    fit = mixing.fit_mixture_law(r, y, starts=6)
    assert fit.k == 1.0 and fit.rmse < 1e-6
    np.testing.assert_allclose(fit.predict(r), y, atol=1e-6)


def test_step_law_shared_alpha():
    x = np.array([1e4, 1.5e4, 2e4, 3e4, 5e4])
    curves = [(x, 2.0 + (3e3 / x) ** 0.5), (x, 2.5 + (6e3 / x) ** 0.5)]
    f = mixing.fit_step_law(curves)
    assert f.converged and f.alpha == pytest.approx(0.5, rel=1e-3)
    assert f.predict(1, 1e5) == pytest.approx(2.5 + (6e3 / 1e5) ** 0.5, rel=1e-4)
