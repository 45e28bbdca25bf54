"""Power-law spectra (one exponent convention), Gaussian latent features and teachers,
inputs of a given intrinsic dimension, and the deep teacher–student run."""
import math

import numpy as np
import pytest

from scalinglab.data.teacher_student import (
    PowerLawLatent, intrinsic_inputs, loss_exponent, power_law_spectrum, spectrum_alpha,
    spectrum_decay,
)
from scalinglab.train.teacher_student import teacher_student_mlp_run


# -- convention ----------------------------------------------------------------------
def test_decay_and_loss_exponent_are_inverse():
    assert spectrum_decay(1.0) == 2.0
    assert loss_exponent(2.0) == 1.0
    for a in (0.3, 1.0, 2.5):
        assert loss_exponent(spectrum_decay(a)) == pytest.approx(a)


def test_power_law_spectrum_values():
    lam = power_law_spectrum(4, 1.0, scale=3.0)
    np.testing.assert_allclose(lam, 3.0 * np.array([1, 1 / 4, 1 / 9, 1 / 16]))
    assert np.all(np.diff(power_law_spectrum(100, 0.5)) < 0)


def test_spectrum_alpha_recovers_the_exponent_it_was_built_with():
    for a in (0.4, 1.0, 2.0):
        lam = power_law_spectrum(500, a)
        rng = np.random.default_rng(0)
        alpha, interval, fit = spectrum_alpha(rng.permutation(lam), 10, 400, bootstrap=50)
        assert alpha == pytest.approx(a, abs=1e-9)
        assert interval[0] == pytest.approx(a, abs=1e-9) and interval[1] == pytest.approx(a, abs=1e-9)
        assert fit.params["slope"] == pytest.approx(-(1 + a), abs=1e-9)


def test_spectrum_alpha_of_a_bent_spectrum_depends_on_the_window():
    # two power laws glued at rank 100: each window sees its own exponent
    ranks = np.arange(1, 1001, dtype=float)
    lam = np.where(ranks <= 100, ranks ** -2.0, 100.0 ** 1.0 * ranks ** -3.0)
    assert spectrum_alpha(lam, 5, 90)[0] == pytest.approx(1.0, abs=1e-9)
    assert spectrum_alpha(lam, 120, 900)[0] == pytest.approx(2.0, abs=1e-9)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), True, "1"])
def test_bad_exponents_are_refused(bad):
    with pytest.raises(ValueError, match="alpha"):
        power_law_spectrum(10, bad)


def test_bad_inputs_give_one_line_errors():
    with pytest.raises(ValueError, match="dim"):
        power_law_spectrum(0, 1.0)
    with pytest.raises(ValueError, match="decay"):
        loss_exponent(1.0)
    with pytest.raises(ValueError, match="rank window"):
        spectrum_alpha(power_law_spectrum(10, 1.0), 5, 20)
    with pytest.raises(ValueError, match="positive"):
        spectrum_alpha(np.r_[power_law_spectrum(10, 1.0), np.zeros(10)], 2, 15)
    with pytest.raises(ValueError, match="scale"):
        PowerLawLatent(10, 1.0, scale=-1.0)


# -- Gaussian latent features --------------------------------------------------------
def test_latent_inputs_have_the_power_law_covariance():
    lat = PowerLawLatent(dim=8, alpha=1.0)
    x = lat.sample_inputs(200_000, np.random.default_rng(1))
    np.testing.assert_allclose(x.var(axis=0), lat.eigenvalues, rtol=0.02)
    off = np.corrcoef(x.T)[np.triu_indices(8, 1)]
    assert np.max(np.abs(off)) < 0.02


def test_teacher_variance_matches_its_formula():
    lat = PowerLawLatent(dim=50, alpha=0.5)
    rng = np.random.default_rng(2)
    w = lat.sample_teacher(rng, n_teachers=4000)
    assert w.shape == (50, 4000)
    # E_w E_x[y^2] = sum_i lambda_i E[w_i^2] = sum(lambda) / dim
    mc = np.mean(np.sum(lat.eigenvalues[:, None] * w ** 2, axis=0))
    assert mc == pytest.approx(lat.target_variance(), rel=0.03)
    assert lat.null_loss() == pytest.approx(0.5 * lat.eigenvalues.sum() / 50)


def test_same_seed_same_draws():
    lat = PowerLawLatent(dim=16, alpha=1.0)
    a = lat.sample_inputs(5, np.random.default_rng(3))
    b = lat.sample_inputs(5, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


# -- intrinsic dimension ---------------------------------------------------------------
def test_intrinsic_inputs_span_d_dimensions():
    rng = np.random.default_rng(4)
    z = intrinsic_inputs(500, 3, rng)
    assert z.shape == (500, 3) and z.min() >= -1 and z.max() <= 1
    x = intrinsic_inputs(500, 3, rng, ambient=20)
    assert x.shape == (500, 20)
    s = np.linalg.svd(x, compute_uv=False)
    assert s[2] > 1.0 and s[3] < 1e-10 * s[0]  # rank exactly 3
    # an isometry keeps distances
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    zz, xx = intrinsic_inputs(10, 3, rng_a), intrinsic_inputs(10, 3, rng_b, ambient=7)
    np.testing.assert_allclose(np.linalg.norm(xx[0] - xx[1]), np.linalg.norm(zz[0] - zz[1]))
    with pytest.raises(ValueError, match="ambient"):
        intrinsic_inputs(10, 5, rng, ambient=3)


# -- deep teacher–student ------------------------------------------------------------------
TINY = {"d": 2, "n_train": 64, "n_test": 256, "teacher_width": 8, "student_width": 16,
        "adam_steps": 200, "lbfgs_steps": 50}


def test_mlp_run_fits_its_training_set_and_is_deterministic():
    a = teacher_student_mlp_run(TINY)
    b = teacher_student_mlp_run(TINY)
    assert a == b
    m = a["metrics"]
    assert m["train_loss"] < m["test_loss"]
    assert m["relative_test_loss"] < 0.5  # learned something about the teacher
    assert m["student_params"] == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    assert a["curve"]["step"][-1] == 250


def test_mlp_run_more_data_lowers_test_loss():
    small = teacher_student_mlp_run({**TINY, "n_train": 16})["metrics"]["test_loss"]
    large = teacher_student_mlp_run({**TINY, "n_train": 256})["metrics"]["test_loss"]
    assert large < small / 3


def test_mlp_run_refuses_unknown_keys():
    with pytest.raises(ValueError, match="unknown teacher-student config keys: widht"):
        teacher_student_mlp_run({"widht": 3})
    with pytest.raises(ValueError, match="dtype"):
        teacher_student_mlp_run({"dtype": "float16"})


def test_a_rougher_teacher_is_harder_to_learn():
    smooth = teacher_student_mlp_run({**TINY, "n_train": 128})["metrics"]["relative_test_loss"]
    rough = teacher_student_mlp_run({**TINY, "n_train": 128, "teacher_gain": 4.0})["metrics"]["relative_test_loss"]
    assert rough > 3 * smooth
    with pytest.raises(ValueError, match="teacher_gain"):
        teacher_student_mlp_run({"teacher_gain": 0})
