"""Random-feature models with exact least-squares readouts (numpy, float64).

Two pieces:

* :class:`RandomFeatures`: phi(x) = sigma(U x) with U ~ N(0, 1/d_in), sigma linear or
  ReLU, and :func:`fit_readout` / :class:`RidgePath` for the min-norm or ridge readout.
  For Gaussian inputs x ~ N(0, diag(lambda)) and a linear teacher y = w.x the test loss
  of any readout is computed *exactly* from the feature moments
  (:meth:`RandomFeatures.population_moments`; ReLU via the arc-cosine kernel), so no
  test-set noise enters the learning curves.

* The linear random-feature teacher–student model of Bahri et al. 2021 (Sec. 2.3):
  teacher features F ~ N(0, C), C = diag(lambda), teacher y = omega.F with
  omega ~ N(0, I/S); student features f = P F with a P x S Gaussian projection;
  training on D samples to the global optimum (min-norm least squares). With
  ``F = g * sqrt(lambda)`` for standard normal g, :func:`linear_rf_loss` returns the
  test loss averaged over the teacher exactly, given the projection and the data:

      L(D, P) = 1/(2S) * E_omega || C^1/2 (omega - P^T theta_hat(omega)) ||^2

  and its two limits, Eq. 1 (D = inf, :func:`projection_loss`) and Eq. 2
  (P = inf, the teacher's own kernel, :func:`kernel_loss`).

Losses are 1/2 mean squared error throughout, as in Bahri et al.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

ACTIVATIONS = ("linear", "relu")


def _check_count(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _check_ridge(ridge: Any) -> float:
    if isinstance(ridge, bool) or not isinstance(ridge, (int, float, np.floating)) \
            or not math.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge={ridge!r} must be a finite number >= 0")
    return float(ridge)


def _eigenvalues(eigenvalues: Any) -> np.ndarray:
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError("eigenvalues must be a non-empty 1-D array")
    if np.any(~np.isfinite(lam)) or np.any(lam < 0):
        raise ValueError("eigenvalues must be finite and >= 0")
    return lam


# ----------------------------------------------------------------------------------
# Random features and readouts
# ----------------------------------------------------------------------------------
@dataclass
class RandomFeatures:
    """phi(x) = sigma(U x), U (n_features x d_in) with i.i.d. N(0, 1/d_in) entries.

    Rows of U are drawn in order from ``seed``, so the first k features of a model with
    more features are the features of the model with k: learning curves in the number
    of features nest (one draw, sliced)."""

    d_in: int
    n_features: int
    activation: str = "linear"
    seed: int = 0
    weights: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        _check_count("d_in", self.d_in)
        _check_count("n_features", self.n_features)
        _check_count("seed", self.seed, minimum=0)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        rng = np.random.default_rng(self.seed)
        self.weights = rng.standard_normal((self.n_features, self.d_in)) / math.sqrt(self.d_in)

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise ValueError(f"inputs must have shape (n, {self.d_in}), got {x.shape}")
        pre = x @ self.weights.T
        return np.maximum(pre, 0.0) if self.activation == "relu" else pre

    __call__ = transform

    def population_moments(self, eigenvalues: Any, teacher: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Exact moments for x ~ N(0, diag(eigenvalues)) and y = teacher.x:
        ``(G, b, y2)`` with G = E[phi phi^T], b = E[phi y], y2 = E[y^2].

        ReLU: E[relu(u.x) relu(v.x)] = s_u s_v / (2 pi) (sin t + (pi - t) cos t), with
        s_u^2 = u^T C u and cos t = u^T C v / (s_u s_v) (the degree-1 arc-cosine kernel),
        and E[relu(u.x) w.x] = u^T C w / 2."""
        lam = _eigenvalues(eigenvalues)
        if lam.size != self.d_in:
            raise ValueError(f"{lam.size} eigenvalues for d_in={self.d_in}")
        w = np.asarray(teacher, dtype=float)
        if w.shape != (self.d_in,):
            raise ValueError(f"teacher must have shape ({self.d_in},), got {w.shape}")
        UC = self.weights * lam
        cross = UC @ self.weights.T
        y2 = float(w @ (lam * w))
        if self.activation == "linear":
            return cross, UC @ w, y2
        s = np.sqrt(np.clip(np.diag(cross), 0.0, None))
        outer = np.outer(s, s)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where(outer > 0, cross / np.where(outer > 0, outer, 1.0), 1.0)
        cos = np.clip(cos, -1.0, 1.0)
        theta = np.arccos(cos)
        G = outer / (2 * math.pi) * (np.sin(theta) + (math.pi - theta) * cos)
        return G, 0.5 * (UC @ w), y2


def population_loss(theta: np.ndarray, G: np.ndarray, b: np.ndarray, y2: float) -> float:
    """1/2 E[(y - theta.phi)^2] from the moments of :meth:`RandomFeatures.population_moments`
    (the first len(theta) features). Clipped at 0 against round-off."""
    theta = np.asarray(theta, dtype=float)
    k = theta.shape[0]
    value = y2 - 2.0 * theta @ b[:k] + theta @ (G[:k, :k] @ theta)
    return 0.5 * max(float(value), 0.0)


class RidgePath:
    """The readout minimising (1/n)||y - Z theta||^2 + ridge ||theta||^2 for any ridge,
    from one SVD of the design Z (n x p). ``ridge=0`` is the min-norm least-squares
    solution (pseudo-inverse; singular values below ``rcond * s_max`` count as zero)."""

    def __init__(self, Z: np.ndarray, y: np.ndarray, rcond: float = 1e-12):
        Z = np.asarray(Z, dtype=float)
        y = np.asarray(y, dtype=float)
        if Z.ndim != 2:
            raise ValueError(f"design must be 2-D, got shape {Z.shape}")
        if y.shape[0] != Z.shape[0]:
            raise ValueError(f"{Z.shape[0]} rows in the design but {y.shape[0]} targets")
        self.n = Z.shape[0]
        u, s, vt = np.linalg.svd(Z, full_matrices=False)
        keep = s > rcond * (s[0] if s.size else 0.0)
        self.s, self.vt = s[keep], vt[keep]
        self.uty = u[:, keep].T @ y

    def theta(self, ridge: float = 0.0) -> np.ndarray:
        ridge = _check_ridge(ridge)
        shrink = self.s / (self.s ** 2 + self.n * ridge)
        coef = shrink[:, None] * self.uty if self.uty.ndim == 2 else shrink * self.uty
        return self.vt.T @ coef


def fit_readout(Z: np.ndarray, y: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """Min-norm (``ridge=0``) or ridge least-squares readout; see :class:`RidgePath`."""
    return RidgePath(Z, y).theta(ridge)


# ----------------------------------------------------------------------------------
# The linear random-feature teacher–student model (Bahri et al. 2021, Sec. 2.3)
# ----------------------------------------------------------------------------------
def _residual_trace(lam: np.ndarray, A: np.ndarray) -> float:
    """Tr[(I - Pi) C] with Pi the orthogonal projector onto the column space of
    C^1/2 A^T (A: k x S). Computed from an orthonormal basis Q of that space as
    sum_i lambda_i (1 - |Q_i|^2), which avoids the cancellation of
    Tr C - Tr[C A^T (A C A^T)^-1 A C] when the loss is small."""
    H = np.sqrt(lam)[:, None] * A.T
    q, r = np.linalg.qr(H)
    diag = np.abs(np.diag(r))
    keep = diag > 1e-13 * (diag.max() if diag.size else 0.0)
    q = q[:, keep]
    return float(np.sum(lam * np.clip(1.0 - np.einsum("ij,ij->i", q, q), 0.0, None)))


def projection_loss(eigenvalues: Any, projection: np.ndarray) -> float:
    """Bahri et al. Eq. 1, the infinite-data loss of the student with features P F:
    L(P) = 1/(2S) Tr[C - C P^T (P C P^T)^-1 P C], C = diag(eigenvalues)."""
    lam = _eigenvalues(eigenvalues)
    A = np.asarray(projection, dtype=float)
    if A.ndim != 2 or A.shape[1] != lam.size:
        raise ValueError(f"projection must have shape (P, {lam.size}), got {A.shape}")
    return _residual_trace(lam, A) / (2 * lam.size)


def kernel_loss(eigenvalues: Any, data: np.ndarray) -> float:
    """Bahri et al. Eq. 2, the loss of regression with the teacher's own kernel
    K(x, x') = F(x).F(x') (all S features, P = inf) on D training points
    F_a = data_a * sqrt(lambda) (``data``: D x S standard normal draws):
    L(D) = 1/2 E_x[K(x,x) - K(x)^T K^-1 K(x)] averaged over the teacher.

    Algebraically this is Eq. 1 with the data matrix in place of the projection:
    the two limits are dual (a random projection of the features versus a random
    sample of training points)."""
    lam = _eigenvalues(eigenvalues)
    G = np.asarray(data, dtype=float)
    if G.ndim != 2 or G.shape[1] != lam.size:
        raise ValueError(f"data must have shape (D, {lam.size}), got {G.shape}")
    return _residual_trace(lam, G) / (2 * lam.size)


def linear_rf_losses(eigenvalues: Any, projection: np.ndarray, data: np.ndarray,
                     ridges: Sequence[float] = (0.0,)) -> np.ndarray:
    """L(D, P) of the linear random-feature student trained on D samples, averaged
    exactly over teachers omega ~ N(0, I/S) and over the test distribution, for each
    ridge in ``ridges`` (one SVD shared by all).

    eigenvalues: lambda (S,); projection: P x S; data: D x S standard normal draws
    (teacher features F_a = data_a * sqrt(lambda)). The readout minimises
    (1/D)||y - Z theta||^2 + ridge ||theta||^2 (min-norm at ``ridge=0``), Z = F P^T.

    With B = P^T Z^+ Phi (Phi: the D x S teacher features), the loss is
    1/(2S) [Tr C - 2 Tr(C B) + Tr(B^T C B)]. Writing Z = U diag(s) V^T and
    Z^+ = V diag(f) U^T (f = s / (s^2 + D ridge)), both traces reduce to k x k
    matrices (k = rank Z): Tr(C B) = sum_i f_i a_i and Tr(B^T C B) = f^T (K o Y) f, with
    R = V^T P, Q = U^T Phi, a_i = sum_j R_ij lambda_j Q_ij, K = R C R^T, Y = Q Q^T.
    Cost O(S min(P, D) (P + D)) once, O(k^2) per ridge."""
    lam = _eigenvalues(eigenvalues)
    S = lam.size
    A = np.asarray(projection, dtype=float)
    G = np.asarray(data, dtype=float)
    if A.ndim != 2 or A.shape[1] != S:
        raise ValueError(f"projection must have shape (P, {S}), got {A.shape}")
    if G.ndim != 2 or G.shape[1] != S:
        raise ValueError(f"data must have shape (D, {S}), got {G.shape}")
    ridges = [_check_ridge(r) for r in np.atleast_1d(ridges).tolist()]
    D = G.shape[0]
    Phi = G * np.sqrt(lam)                  # D x S teacher features
    Z = Phi @ A.T                           # D x P student features
    u, s, vt = np.linalg.svd(Z, full_matrices=False)
    keep = s > 1e-12 * (s[0] if s.size else 0.0)
    u, s, vt = u[:, keep], s[keep], vt[keep]
    R = vt @ A                              # k x S
    Q = u.T @ Phi                           # k x S
    RC = R * lam
    a = np.einsum("ij,ij->i", RC, Q)
    KY = (RC @ R.T) * (Q @ Q.T)
    trace = float(lam.sum())
    out = np.empty(len(ridges))
    for i, ridge in enumerate(ridges):
        f = s / (s ** 2 + D * ridge)
        out[i] = max(trace - 2.0 * float(f @ a) + float(f @ KY @ f), 0.0) / (2 * S)
    return out


def linear_rf_loss(eigenvalues: Any, projection: np.ndarray, data: np.ndarray,
                   ridge: float = 0.0) -> float:
    """L(D, P) at one ridge; see :func:`linear_rf_losses`."""
    return float(linear_rf_losses(eigenvalues, projection, data, (ridge,))[0])


def _size_code(n: float) -> int:
    return 0 if math.isinf(n) else int(n)


def _check_size(name: str, n: Any) -> float:
    if isinstance(n, float) and math.isinf(n) and n > 0:
        return n
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name}={n!r} must be a positive integer or math.inf")
    return int(n)


def linear_rf_sweep(eigenvalues: Any, sizes: Iterable[tuple[float, float]], *, draws: int = 1,
                    seed: int = 0, ridges: Sequence[float] = (0.0,)) -> list[dict[str, float]]:
    """The linear random-feature model at each (P, D) in ``sizes`` (either may be
    ``math.inf``: Eq. 1 for D = inf, Eq. 2 for P = inf), over ``draws`` independent draws
    of the projection and the data.

    Each draw's random numbers depend only on (seed, P, D, draw), so a point's value
    does not change when the grid around it does. Each record holds ``P``, ``D``,
    ``draw``, ``ridge``, ``loss`` and ``limit``: the loss of the same draw with the more
    plentiful resource taken to infinity (L(P) for P < D, L(D) for D < P), so that
    ``loss - limit`` is the variance-limited excess measured without the scatter of L."""
    lam = _eigenvalues(eigenvalues)
    S = lam.size
    _check_count("draws", draws)
    records = []
    for P, D in sizes:
        P, D = _check_size("P", P), _check_size("D", D)
        for draw in range(draws):
            rng = np.random.default_rng([seed, _size_code(P), _size_code(D), draw])
            A = None if math.isinf(P) else rng.standard_normal((int(P), S))
            G = None if math.isinf(D) else rng.standard_normal((int(D), S))
            if A is None and G is None:
                losses, limit = np.zeros(len(np.atleast_1d(ridges))), 0.0
            elif G is None:
                limit = projection_loss(lam, A)
                losses = np.full(len(np.atleast_1d(ridges)), limit)
            elif A is None:
                limit = kernel_loss(lam, G)
                losses = np.full(len(np.atleast_1d(ridges)), limit)
            else:
                losses = linear_rf_losses(lam, A, G, ridges)
                limit = projection_loss(lam, A) if P <= D else kernel_loss(lam, G)
            for ridge, loss in zip(np.atleast_1d(ridges).tolist(), losses):
                records.append({"P": P, "D": D, "draw": draw, "ridge": float(ridge),
                                "loss": float(loss), "limit": float(limit)})
    return records


# ----------------------------------------------------------------------------------
# Measured feature spectra (teacher features of real, non-Gaussian inputs)
# ----------------------------------------------------------------------------------
@dataclass
class FeatureEigenbasis:
    """The eigenbasis of the second-moment matrix F^T F / n of feature samples F (n x S).

    ``eigenvalues`` (descending, those above ``rtol`` times the largest) play the role of
    lambda in :func:`kernel_loss` and :func:`projection_loss`; :meth:`whiten` turns
    feature samples into the coordinates those functions take (``data``), so the linear
    teacher–student losses can be evaluated on real inputs: the training sample is real,
    the test distribution is the one the second moments were measured on."""

    eigenvalues: np.ndarray
    vectors: np.ndarray

    @classmethod
    def from_samples(cls, features: np.ndarray, rtol: float = 1e-12) -> "FeatureEigenbasis":
        F = np.asarray(features, dtype=float)
        if F.ndim != 2 or F.shape[0] < 2:
            raise ValueError(f"features must be an (n >= 2, S) array, got shape {F.shape}")
        lam, vec = np.linalg.eigh(F.T @ F / F.shape[0])
        order = np.argsort(lam)[::-1]
        lam, vec = lam[order], vec[:, order]
        keep = lam > rtol * lam[0]
        return cls(eigenvalues=lam[keep], vectors=vec[:, keep])

    def whiten(self, features: np.ndarray) -> np.ndarray:
        """Coordinates g with F = g sqrt(lambda) V^T (unit second moments on the
        measured distribution)."""
        F = np.asarray(features, dtype=float)
        if F.ndim != 2 or F.shape[1] != self.vectors.shape[0]:
            raise ValueError(f"features must have shape (n, {self.vectors.shape[0]}), got {F.shape}")
        return (F @ self.vectors) / np.sqrt(self.eigenvalues)


# ----------------------------------------------------------------------------------
# Nonlinear random features on Gaussian latent data (exact population losses)
# ----------------------------------------------------------------------------------
def random_feature_grid(eigenvalues: Any, activation: str, n_features: Sequence[int],
                        n_samples: Sequence[int], *, seed: int = 0,
                        ridge: float = 0.0) -> list[dict[str, float]]:
    """Exact test losses of phi(x) = sigma(U x) students on latent data
    x ~ N(0, diag(eigenvalues)) with one linear teacher y = w.x, w ~ N(0, I/M), for
    every (N, T) in ``n_features`` x ``n_samples``.

    One draw of teacher, features and data per call (from ``seed``): smaller models use
    the first N features and smaller data sets the first T samples, so the curves nest.
    Records hold ``N``, ``T``, ``loss`` (1/2 MSE) and ``relative`` (loss / loss of f = 0)."""
    lam = _eigenvalues(eigenvalues)
    M = lam.size
    Ns = [_check_count("n_features", n) for n in n_features]
    Ts = [_check_count("n_samples", t) for t in n_samples]
    ridge = _check_ridge(ridge)
    rng = np.random.default_rng([seed, M])
    w = rng.standard_normal(M) / math.sqrt(M)
    features = RandomFeatures(M, max(Ns), activation=activation, seed=int(rng.integers(2 ** 31)))
    x = rng.standard_normal((max(Ts), M)) * np.sqrt(lam)  # rows nest: the first T are the same for any max
    y = x @ w
    Z = features(x)
    G, b, y2 = features.population_moments(lam, w)
    records = []
    for T in Ts:
        for N in Ns:
            theta = RidgePath(Z[:T, :N], y[:T]).theta(ridge)
            loss = population_loss(theta, G, b, y2)
            records.append({"N": N, "T": T, "loss": loss, "relative": loss / (0.5 * y2)})
    return records
