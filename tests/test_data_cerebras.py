"""The Cerebras-GPT model-card table parser, on small inline excerpts (no network)."""
import math

import pytest

from scalinglab.data import cerebras

EXCERPT = """\
## Evaluations

Some text.

#### 0-shot Evaluation
| Model          | Count | Training FLOPs | PILE test xent | Hella- Swag |
| -------------- | ----- | -------------- | -------------- | ----------- |
| Cerebras       | 111M  | 2.6E+18        | 2.608          | 0.268       |
|                | 1.3B  | 2.8E+20        | 1.997          | 0.325       |
| Cerebras muP   | 111M  | 2.6E+18        | 2.588          | 0.268       |
| OPT            | 125M  | 4.1E+20        | \\-             | 0.292       |

#### 5-shot Evaluation
| Model          | Count | Training FLOPs | PILE test xent |
| -------------- | ----- | -------------- | -------------- |
| Cerebras       | 111M  | 9.9E+18        | 9.999          |
"""


def test_parses_families_sizes_and_numbers():
    t = cerebras.zero_shot_table(EXCERPT)
    assert list(t.family) == ["Cerebras", "Cerebras", "Cerebras muP", "OPT"]
    assert list(t["size"]) == ["111M", "1.3B", "111M", "125M"]
    assert t.params.tolist() == [111e6, 1.3e9, 111e6, 125e6]
    assert t.flops.tolist() == [2.6e18, 2.8e20, 2.6e18, 4.1e20]
    assert t.xent.iloc[:3].tolist() == [2.608, 1.997, 2.588]
    assert math.isnan(t.xent.iloc[3])  # the card's "\-"


def test_reads_only_the_named_section():
    t = cerebras.zero_shot_table(EXCERPT, section="5-shot Evaluation")
    assert t.xent.tolist() == [9.999]


def test_missing_section_or_column_is_an_error():
    with pytest.raises(cerebras.TableError, match="no table"):
        cerebras.zero_shot_table(EXCERPT, section="Training")
    bad = "#### 0-shot Evaluation\n| Model | Count |\n| --- | --- |\n| A | 1M |\n"
    with pytest.raises(cerebras.TableError, match="no column"):
        cerebras.zero_shot_table(bad)


@pytest.mark.parametrize("label, value", [("111M", 111e6), ("1.3B", 1.3e9), ("20b", 20e9)])
def test_parse_size(label, value):
    assert cerebras.parse_size(label) == value


def test_bad_cells_are_errors():
    with pytest.raises(cerebras.TableError):
        cerebras.parse_size("large")
    bad = EXCERPT.replace("2.608", "n/a")
    with pytest.raises(cerebras.TableError, match="not a number"):
        cerebras.zero_shot_table(bad)
