"""The offline corpus (deterministic bytes, pins, split) and the synthetic source."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from scalinglab.data import corpus as corpus_module
from scalinglab.data.corpus import CORPORA, CorpusError, TokenCorpus, build_corpus, load_corpus, verify_corpus
from scalinglab.data.synthetic import ZipfMarkovSource

ROOT = Path(__file__).resolve().parents[1]

# sha256 of the splits of the "pysrc" corpus built from the pinned package versions:
# any machine with those versions installed must build exactly these bytes.
PYSRC_TRAIN_SHA256 = "2fd539bbb2e2cf8d66a03fb2bc05d66b5b123d009755452b69fc6c9d06246a1c"
PYSRC_VAL_SHA256 = "777e788899fddf9ddb81574b7a32296554fd13bb229359f8f985a3e5f06a596c"


def pins():
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            out[re.sub(r"[-_.]+", "-", name).lower()] = version
    return out


def test_corpus_packages_are_pinned_in_requirements():
    pinned = pins()
    for name, packages in CORPORA.items():
        for dist, version in packages.items():
            key = re.sub(r"[-_.]+", "-", dist).lower()
            assert pinned.get(key) == version, f"corpus {name}: {dist}=={version} is not the pin in requirements.txt"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    return root, load_corpus("pysrc", root=root, progress=False)


def test_build_is_deterministic_and_matches_the_known_bytes(built, tmp_path):
    root, corpus = built
    assert corpus.manifest["train"]["sha256"] == PYSRC_TRAIN_SHA256
    assert corpus.manifest["val"]["sha256"] == PYSRC_VAL_SHA256
    again = load_corpus("pysrc", root=tmp_path, progress=False)
    assert again.manifest == corpus.manifest
    assert np.array_equal(np.asarray(again.train), np.asarray(corpus.train))
    assert verify_corpus("pysrc", root=root)


def test_manifest_and_split(built):
    _, corpus = built
    m = corpus.manifest
    assert {p["name"] for p in m["packages"]} == set(CORPORA["pysrc"])
    assert all(p["version"] == CORPORA["pysrc"][p["name"]] for p in m["packages"])
    n_files = sum(p["files"] for p in m["packages"])
    # every 20th file is held out
    assert m["val"]["files"] == n_files // 20
    assert m["train"]["files"] + m["val"]["files"] == n_files
    assert m["train"]["bytes"] == len(corpus.train) and m["val"]["bytes"] == len(corpus.val)
    # one NUL byte ends each file, and none occurs inside a file
    assert int((np.asarray(corpus.val) == 0).sum()) == m["val"]["files"]
    assert isinstance(corpus.train, np.memmap) and corpus.vocab_size == 256
    assert 0.03 < len(corpus.val) / (len(corpus.train) + len(corpus.val)) < 0.08


def test_a_version_other_than_the_pin_is_refused(monkeypatch, tmp_path):
    monkeypatch.setitem(CORPORA, "pysrc-bad", {"tqdm": "0.0.1"})
    with pytest.raises(CorpusError, match=r"tqdm==0\.0\.1 .*but .* is installed"):
        build_corpus("pysrc-bad", root=tmp_path, progress=False)
    assert not list(tmp_path.glob("*/manifest.json"))  # nothing half-built is left
    with pytest.raises(CorpusError, match="unknown corpus"):
        build_corpus("nope", root=tmp_path)


def test_an_edited_installed_file_is_refused(monkeypatch, tmp_path):
    real = corpus_module.source_files

    def tampered(dist, version):
        files = real(dist, version)
        name, path, _ = files[0]
        return [(name, path, "0" * 64)] + files[1:]
    monkeypatch.setattr(corpus_module, "source_files", tampered)
    monkeypatch.setitem(CORPORA, "pysrc-one", {"tqdm": CORPORA["pysrc"]["tqdm"]})
    with pytest.raises(CorpusError, match="sha256 does not match"):
        build_corpus("pysrc-one", root=tmp_path, progress=False)


def test_batches_are_seeded(built):
    _, corpus = built
    a = corpus.train_batch(4, 32, np.random.default_rng(1))
    b = corpus.train_batch(4, 32, np.random.default_rng(1))
    assert all(np.array_equal(u.numpy(), v.numpy()) for u, v in zip(a, b))
    x, y = a
    assert x.shape == y.shape == (4, 32)
    assert np.array_equal(x[:, 1:].numpy(), y[:, :-1].numpy())  # targets are inputs shifted by one


def test_a_data_limit_takes_pieces_spread_over_the_corpus(built):
    _, corpus = built
    pieces, length = corpus.limited_pieces(64_000, 32)
    assert len(pieces) == 64 and length == 1000
    assert corpus.distinct_tokens(64_000, 32) == 64_000
    assert corpus.distinct_tokens(None, 32) == len(corpus.train)
    # spread from the first to the last file, not the first 64 kB
    assert pieces[0] == 0 and pieces[-1] == len(corpus.train) - length
    rng = np.random.default_rng(0)
    train = np.asarray(corpus.train)
    for _ in range(10):
        x, y = corpus.train_batch(8, 32, rng, limit=64_000)
        for row_x, row_y in zip(x.numpy(), y.numpy()):
            window = np.concatenate([row_x, row_y[-1:]])
            inside = [p for p in pieces if any(np.array_equal(window, train[s:s + 33])
                                               for s in range(p, p + length - 32))]
            assert inside, "a training window lies outside the limited pieces"
    # tiny limits still give whole windows
    pieces, length = corpus.limited_pieces(100, 64)
    assert len(pieces) == 1 and length == 65


def test_a_data_limit_on_documents_takes_whole_documents():
    source = ZipfMarkovSource(vocab_size=16, order=1, branching=4)
    corpus = source.corpus(10_000, 2_000, document_length=100)
    pieces, length = corpus.limited_pieces(1_000, 30)
    assert length == 100 and len(pieces) == 10 and (pieces % 100 == 0).all()
    assert corpus.distinct_tokens(1_000, 30) == 1_000


def test_eval_windows_are_fixed_and_spread(built):
    _, corpus = built
    x1, y1 = corpus.eval_windows(64, 10)
    x2, _ = corpus.eval_windows(64, 10)
    assert np.array_equal(x1.numpy(), x2.numpy()) and x1.shape == (10, 64)
    assert np.array_equal(x1[0].numpy(), np.asarray(corpus.val[:64]))
    assert np.array_equal(y1[-1].numpy(), np.asarray(corpus.val[-64:]))


def test_windows_must_fit():
    tiny = TokenCorpus("t", train=np.zeros(10, np.uint8), val=np.zeros(5, np.uint8), vocab_size=2)
    with pytest.raises(CorpusError, match="cannot hold"):
        tiny.train_batch(1, 10, np.random.default_rng(0))
    with pytest.raises(CorpusError, match="too short"):
        tiny.eval_windows(8, 2)


# -- the synthetic source ------------------------------------------------------------------

def model_loss(source, tokens):
    """Cross-entropy of the true chain on (documents, length) tokens, from position order."""
    V, m = source.vocab_size, source.order
    x = tokens.astype(np.int64)
    state = np.zeros(x[:, m - 1:-1].shape, dtype=np.int64)
    for i in range(m):
        state = state * V + x[:, i:x.shape[1] - m + i]
    nxt = x[:, m:]
    succ = source.successors()
    p = source.next_token_probabilities()
    prob = np.full(nxt.shape, source.teleport / V)
    for j in range(source.branching - 1, -1, -1):  # the rank-j successor gets p[j]
        prob = np.where(succ[state, j] == nxt, p[j], prob)
    return float(-np.log(prob).mean())


@pytest.mark.parametrize("kw", [dict(vocab_size=32, order=1, branching=4),
                                dict(vocab_size=16, order=2, branching=3, zipf_exponent=1.5),
                                dict(vocab_size=8, order=3, branching=2, teleport=0.2)])
def test_entropy_rate_is_the_cross_entropy_of_the_true_chain(kw):
    source = ZipfMarkovSource(**kw)
    p = source.next_token_probabilities()
    assert p.sum() == pytest.approx(1.0) and len(p) == source.vocab_size
    tokens = source.sample(200, 1000, seed=3)
    # the empirical cross-entropy of the true model converges to the entropy rate
    assert model_loss(source, tokens) == pytest.approx(source.entropy_rate, abs=0.02)


def test_entropy_rate_limits():
    # teleport = 1: uniform tokens, entropy log V
    assert ZipfMarkovSource(vocab_size=10, order=1, branching=3, teleport=1.0).entropy_rate == pytest.approx(math.log(10))
    # flat successors, tiny teleport: close to log(branching)
    assert ZipfMarkovSource(vocab_size=64, order=1, branching=8, zipf_exponent=0.0,
                            teleport=1e-9).entropy_rate == pytest.approx(math.log(8), abs=1e-6)


def test_stationary_marginals_and_optimal_loss():
    source = ZipfMarkovSource(vocab_size=16, order=2, branching=3)
    pi = source.stationary()
    assert pi.sum() == pytest.approx(1.0) and (pi > 0).all()
    tokens = source.sample(400, 500, seed=1)
    unigram = np.bincount(tokens.reshape(-1), minlength=16) / tokens.size
    assert np.abs(unigram - pi.reshape(16, 16).sum(axis=1)).max() < 0.01
    h1, h2 = source.ngram_entropies()
    # the first prediction of a window sees one token: H(X2|X1) = H2 - H1 > entropy rate
    assert h2 - h1 > source.entropy_rate
    assert source.optimal_loss(1) == pytest.approx(h2 - h1)
    assert source.optimal_loss(100) == pytest.approx((h2 - h1 + 99 * source.entropy_rate) / 100)
    assert ZipfMarkovSource(order=1).optimal_loss(7) == ZipfMarkovSource(order=1).entropy_rate


def test_synthetic_corpus_is_seeded_and_windows_stay_inside_documents():
    source = ZipfMarkovSource(vocab_size=16, order=1, branching=4)
    a = source.corpus(10_000, 2_000, document_length=100)
    b = source.corpus(10_000, 2_000, document_length=100)
    assert np.array_equal(a.train, b.train) and not np.array_equal(a.train[:2000], a.val)
    assert a.entropy_rate == source.entropy_rate and a.bytes_per_token is None
    starts = a._starts(len(a.train), 30, 5000, np.random.default_rng(0))
    assert ((starts % 100) + 31 <= 100).all()
    x, _ = a.eval_windows(30, 40)
    assert x.shape == (40, 30)
    other = ZipfMarkovSource(vocab_size=16, order=1, branching=4, seed=1).corpus(10_000, 2_000, 100)
    assert not np.array_equal(other.train, a.train)


@pytest.mark.parametrize("kw, match", [(dict(branching=100, vocab_size=10), "exceeds"),
                                       (dict(teleport=0.0), "teleport"),
                                       (dict(vocab_size=1024, order=3), "states")])
def test_bad_sources_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        ZipfMarkovSource(**kw)
