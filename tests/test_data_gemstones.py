import math

import pytest

from scalinglab.data import gemstones

JSONL = (
    '{"run_name":"PyGemma-256x8_pretrain","params_active_precise":1000000,"width":256,"depth":8,'
    '"tokens":2000,"step":2,"num_nodes":1,"seconds_per_step":1.0,"final_loss":3.5}\n'
    '{"run_name":"PyGemma-256x8_pretrain","params_active_precise":1000000,"width":256,"depth":8,'
    '"tokens":1000,"step":1,"num_nodes":1,"seconds_per_step":1.0,"final_loss":4.0}\n'
)
A1 = '{"coef": [0.5], "intercept": -2.0, "approach": 1, "label": "params"}'
A3 = ('{"success":{"0":true},"loss":{"0":0.0065},"exponents":{"0":[0.25,0.6]},'
      '"coefficients":{"0":[5.0,12.0]},"irreducible_error":{"0":0.7}}')


def test_read_fit_inputs_roles_and_order():
    df = gemstones.read_fit_inputs(JSONL)
    assert list(df.columns) == ["run", "width", "depth", "step", "N", "D", "loss", "C", "C_count"]
    assert list(df.D) == [1000.0, 2000.0]          # sorted by tokens
    assert df.C.iloc[0] == 6 * 1e6 * 1000
    assert df.loss.iloc[0] == 4.0


def test_read_fit_inputs_rejects_other_files():
    with pytest.raises(ValueError, match="missing column"):
        gemstones.read_fit_inputs('{"a": 1}\n')


def test_approach1_law():
    law = gemstones.approach1_law(A1)
    assert law == {"slope": 0.5, "intercept": -2.0, "label": "params"}


def test_approach3_law_log_and_linear_forms():
    law = gemstones.approach3_law(A3)
    assert (law["alpha"], law["beta"], law["a"], law["b"], law["e"]) == (0.25, 0.6, 5.0, 12.0, 0.7)
    assert math.isclose(law["E"], math.exp(0.7)) and math.isclose(law["A"], math.exp(5.0))
    assert law["success"] is True and law["objective"] == 0.0065


def test_flops_per_token_near_six_n_and_vectorised():
    import numpy as np
    # a 1024-wide, 28-deep Gemstone has 543,482,880 active parameters (fit inputs)
    f = gemstones.flops_per_token(1024, 28)
    assert 0.7 < f / (6 * 543482880) < 1.6
    arr = gemstones.flops_per_token(np.array([1024.0, 2048.0]), np.array([28.0, 28.0]))
    assert arr.shape == (2,) and arr[1] > arr[0]
    assert gemstones.flops_per_token(1024, 56) > f          # deeper costs more


def test_read_fit_inputs_adds_paper_flop_count():
    df = gemstones.read_fit_inputs(JSONL)
    assert (df.C_count == gemstones.flops_per_token(256, 8) * df.D).all()


def _curves():
    import pandas as pd
    # two runs: the small one is best at low compute, the big one at high compute
    rows = []
    for run, N, losses in [("small", 1.0, [4.0, 3.0, 2.8, 2.75]), ("big", 4.0, [3.6, 2.7, 2.4, 2.2])]:
        for k, loss in enumerate(losses):
            D = 10.0 ** (k + 1)
            rows.append({"run": run, "N": N, "D": D, "C": 6 * N * D, "loss": loss})
    return pd.DataFrame(rows)


def test_lower_hull_is_convex_falling_and_sorted():
    import numpy as np
    h = gemstones.lower_hull(_curves())
    lx, ly = np.log(h.C.to_numpy()), np.log(h.loss.to_numpy())
    assert (np.diff(lx) > 0).all() and (np.diff(ly) < 0).all()
    slopes = np.diff(ly) / np.diff(lx)
    assert (np.diff(slopes) > 0).all()                      # convex: slopes increase
    assert h.loss.iloc[-1] == _curves().loss.min()          # ends at the lowest loss
    assert h.C.iloc[0] == _curves().C.min()                 # starts at the least compute


def test_approach1_hull_recovers_an_exact_frontier():
    import numpy as np
    import pandas as pd
    # checkpoints on a frontier N* = C^0.5 / 10 (exact), plus worse checkpoints above it
    C = np.geomspace(1e6, 1e10, 9)
    N = np.sqrt(C) / 10
    # (loss = 2 + 10 C^-0.1 is strictly convex in log-log, so every frontier point is a hull vertex)
    rows = [{"run": f"r{i}", "N": n, "D": c / (6 * n), "C_count": c, "loss": 2 + 10 * c ** -0.1}
            for i, (c, n) in enumerate(zip(C, N))]
    rows += [{"run": f"r{i}", "N": n, "D": 2 * c / (6 * n), "C_count": 2 * c, "loss": 1.5 * (2 + 10 * c ** -0.1)}
             for i, (c, n) in enumerate(zip(C, N))]
    r = gemstones.approach1_hull(pd.DataFrame(rows), "C_count", bootstrap=20, seed=1)
    assert abs(r["a"] - 0.5) < 1e-9 and abs(r["b"] - 0.5) < 1e-9
    assert r["n_hull"] == 9 and r["n_runs"] == 9
    lo, hi = r["a_interval"]
    assert lo <= 0.5 + 1e-9 and hi >= 0.5 - 1e-9
