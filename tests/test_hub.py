"""The hub loader, on small local files the tests write (no network)."""
import json

import numpy as np
import pytest

from scalinglab.data.corpus import CorpusError
from scalinglab.data.hub import PRESETS, load_hub_corpus


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    # keep datasets' caches in the test folder and make any network use an error
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def write_jsonl(path, texts, field="text"):
    path.write_text("".join(json.dumps({field: t, "id": i}) + "\n" for i, t in enumerate(texts)))
    return path


def test_local_jsonl_becomes_a_byte_corpus(tmp_path):
    texts = [f"story {i}: the cat sat on the mat. é" for i in range(45)]
    data = write_jsonl(tmp_path / "stories.jsonl", texts)
    corpus = load_hub_corpus("json", data_files=str(data), root=tmp_path / "corpora", progress=False)
    expected_val = b"".join(t.encode() + b"\x00" for i, t in enumerate(texts) if i % 20 == 19)
    expected_train = b"".join(t.encode() + b"\x00" for i, t in enumerate(texts) if i % 20 != 19)
    assert bytes(np.asarray(corpus.val)) == expected_val
    assert bytes(np.asarray(corpus.train)) == expected_train
    assert corpus.manifest["train"]["documents"] == 43 and corpus.manifest["val"]["documents"] == 2
    assert corpus.vocab_size == 256 and corpus.bytes_per_token == 1.0
    # built once: a second load reads the same folder
    again = load_hub_corpus("json", data_files=str(data), root=tmp_path / "corpora", progress=False)
    assert again.name == corpus.name
    assert len(list((tmp_path / "corpora").iterdir())) == 1


def test_max_bytes_keeps_whole_documents(tmp_path):
    texts = ["x" * 99 for _ in range(100)]  # 100 bytes each with the separator
    data = write_jsonl(tmp_path / "d.jsonl", texts)
    corpus = load_hub_corpus("json", data_files=str(data), max_bytes=4050, root=tmp_path / "c", progress=False)
    assert len(corpus.train) + len(corpus.val) == 4000


def test_text_files_and_other_fields(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"line {i}\n" for i in range(40)))
    corpus = load_hub_corpus("text", data_files=str(lines), root=tmp_path / "c", progress=False)
    assert bytes(np.asarray(corpus.train[:7])) == b"line 0\x00"
    data = write_jsonl(tmp_path / "b.jsonl", ["a"] * 30, field="body")
    with pytest.raises(CorpusError, match="no field 'text'"):
        load_hub_corpus("json", data_files=str(data), root=tmp_path / "c2", progress=False)
    corpus = load_hub_corpus("json", data_files=str(data), text_field="body", root=tmp_path / "c3", progress=False)
    assert corpus.manifest["text_field"] == "body"


def test_errors_are_one_line(tmp_path):
    with pytest.raises(CorpusError, match="pass data_files"):
        load_hub_corpus("json", root=tmp_path)
    with pytest.raises(CorpusError, match="could not open dataset"):
        load_hub_corpus("no-such-owner/no-such-dataset", root=tmp_path, progress=False)
    with pytest.raises(CorpusError, match="too little text"):
        load_hub_corpus("json", data_files=str(write_jsonl(tmp_path / "one.jsonl", ["only"])),
                        root=tmp_path, progress=False)
    assert not list(tmp_path.glob("hub-*/manifest.json"))


def test_presets_name_real_datasets():
    assert PRESETS["tinystories"]["path"] == "roneneldan/TinyStories"
    assert PRESETS["fineweb-edu-10bt"]["name"] == "sample-10BT"
