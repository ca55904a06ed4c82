"""Turn chunk texts into vectors behind one small interface.

The default runs the installed ONNX model on the CPU with no network: texts are tokenised,
batched by length (so short chunks are not padded to the longest one in the repository), mean
pooled over real tokens and L2-normalised, which is what sentence-transformers does for this
model, so cosine distance in Weaviate means what the model was trained for.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from freshpoc_tasks.search.model import DIMENSIONS, MODEL_NAME, MODEL_VERSION, ModelFiles, installed_model


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps texts to fixed-size vectors; ``name`` goes into logs and benchmarks."""

    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in the order given."""
        ...


class OnnxEmbedder:
    """all-MiniLM-L6-v2 (or any BERT-style ONNX export with ``last_hidden_state``) on the CPU.

    The session is created on first use, so building an embedder in a constructor or at import
    time costs nothing. ``max_tokens`` defaults to 256, the length the model was trained on (the
    bundled tokenizer file says 128, which would cut most functions in half).
    """

    def __init__(self, files: ModelFiles, *, batch_size: int = 32, max_tokens: int = 256,
                 threads: int | None = None) -> None:
        self.files = files
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.threads = threads
        self.name = f"{MODEL_NAME}@{MODEL_VERSION}"
        self.dimensions = DIMENSIONS
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: set[str] = set()

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.files.tokenizer))
        tok.enable_truncation(max_length=self.max_tokens)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")  # no length: pad to the batch's longest
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads or min(2, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(self.files.onnx), sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tok

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import numpy as np

        if not texts:
            return []
        if self._session is None:
            self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = self._tokenizer.encode_batch([texts[i] or " " for i in idx])
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            for row, i in enumerate(idx):
                out[i] = pooled[row].astype(float).tolist()
        return out


def default_embedder(cache_dir: str | Path | None = None, **options: Any) -> OnnxEmbedder:
    """The installed default model; raises ``ModelUnavailableError`` rather than downloading."""
    return OnnxEmbedder(installed_model(cache_dir), **options)


@functools.lru_cache(maxsize=4)
def shared_embedder(cache_dir: str | None = None) -> OnnxEmbedder:
    """One loaded model per process (a query API must not reload 90 MB per request)."""
    return default_embedder(cache_dir)
