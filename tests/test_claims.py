import json
import math

import pytest

from scalinglab.repro import (
    ParameterError, Scorecard, contains_paper, greater_than, in_range, less_than, within,
)
from scalinglab.repro.claims import round_sig


def card(profile="cpu"):
    return Scorecard("test2020_claims", profile=profile, title="T")


@pytest.mark.parametrize("ours", [None, float("nan"), float("inf")])
def test_a_claim_without_a_computed_value_is_never_reproduced(ours):
    c = card().add("x", "s", paper_value=1.0, paper_source="Eq. 1", ours=ours,
                   criterion=within(rel=10.0))
    assert c.verdict == "not reproduced" and not c.passes
    assert c.reason == "no computed value"


def test_within_uses_absolute_or_relative_tolerance():
    s = card()
    assert s.add("a", "s", paper_value=0.076, paper_source="t", ours=0.08,
                 criterion=within(rel=0.1)).verdict == "reproduced"
    assert s.add("b", "s", paper_value=0.076, paper_source="t", ours=0.10,
                 criterion=within(rel=0.1)).verdict == "not reproduced"
    assert s.add("c", "s", paper_value=0.076, paper_source="t", ours=0.10,
                 criterion=within(abs=0.03, rel=0.1)).verdict == "reproduced"


def test_contains_paper_needs_an_interval():
    s = card()
    assert s.add("a", "s", paper_value=0.3, paper_source="t", ours=0.2, ours_interval=(0.1, 0.35),
                 criterion=contains_paper()).verdict == "reproduced"
    assert s.add("b", "s", paper_value=0.3, paper_source="t", ours=0.2, ours_interval=(0.1, 0.25),
                 criterion=contains_paper()).verdict == "not reproduced"
    c = s.add("c", "s", paper_value=0.3, paper_source="t", ours=0.3, criterion=contains_paper())
    assert c.verdict == "not reproduced" and c.reason == "no interval for ours"


def test_inequalities_and_ranges():
    s = card()
    assert s.add("a", "s", paper_value=None, paper_source="t", ours=0.01,
                 criterion=less_than(0.05)).passes
    assert not s.add("b", "s", paper_value=None, paper_source="t", ours=0.2,
                     criterion=less_than(0.05)).passes
    assert s.add("c", "s", paper_value=20, paper_source="t", ours=25,
                 criterion=greater_than(10)).passes
    assert s.add("d", "s", paper_value=0.34, paper_source="t", ours=0.33,
                 criterion=in_range(0.3, 0.4)).passes


def test_below_min_profile_a_claim_is_indicative():
    c = card("ci").add("a", "s", paper_value=1, paper_source="t", ours=1,
                       criterion=within(abs=0.1), min_profile="cpu")
    assert c.verdict == "indicative" and c.passes
    counts = card("ci").counts()
    assert counts == {"total": 0, "judged": 0, "reproduced": 0, "indicative": 0}


def test_claims_need_a_source_and_unique_ids():
    s = card()
    with pytest.raises(ParameterError, match="source"):
        s.add("a", "s", paper_value=1, paper_source="", ours=1, criterion=within(abs=1))
    s.add("a", "s", paper_value=1, paper_source="t", ours=1, criterion=within(abs=1))
    with pytest.raises(ParameterError, match="used twice"):
        s.add("a", "s", paper_value=1, paper_source="t", ours=1, criterion=within(abs=1))


def test_saved_file_is_byte_stable_and_rounded(tmp_path):
    def make():
        s = card()
        s.add("a", "s", paper_value=0.076, paper_source="t", ours=0.0812345678901,
              ours_interval=(0.07000000001, 0.09), criterion=within(rel=0.2), tags=["exponent"])
        return s.save(tmp_path / "one", provenance={"seed": 0}).read_bytes()
    first, second = make(), make()
    assert first == second
    data = json.loads(first)
    assert data["claims"][0]["ours"] == 0.08123
    assert data["claims"][0]["ours_interval"] == [0.07, 0.09]
    assert data["counts"] == {"total": 1, "judged": 1, "reproduced": 1, "indicative": 0}
    assert data["claims"][0]["tags"] == ["exponent"]


def test_round_sig():
    assert round_sig(123456.0, 3) == 123000.0
    assert round_sig(0.000123456, 2) == 0.00012
    assert round_sig(0.0) == 0.0 and round_sig(None) is None
    assert math.isnan(round_sig(float("nan")))


def test_html_table_shows_every_claim():
    s = card()
    s.add("alpha", "a statement <with> markup", paper_value=1, paper_source="Table 1", ours=1,
          criterion=within(abs=0.1))
    html = s._repr_html_()
    assert "alpha" in html and "&lt;with&gt;" in html and "reproduced" in html


def test_below_min_profile_a_claim_without_value_is_indicative_and_would_fail():
    # a value the small grid cannot determine (a fit that is not identified) is not a
    # judged miss below the claim's profile
    card = Scorecard("kaplan2020_neural_lm", profile="ci")
    c = card.add("x", "s", paper_value=1.0, paper_source="Eq. 1", ours=None,
                 criterion=within(rel=0.5), min_profile="cpu")
    assert c.verdict == "indicative" and not c.passes
    card_cpu = Scorecard("kaplan2020_neural_lm", profile="cpu")
    c = card_cpu.add("x", "s", paper_value=1.0, paper_source="Eq. 1", ours=None,
                     criterion=within(rel=0.5), min_profile="cpu")
    assert c.verdict == "not reproduced"
