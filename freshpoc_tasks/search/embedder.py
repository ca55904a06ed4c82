"""Turn chunk texts into vectors behind one small interface.

The default runs the installed ONNX model on the CPU with no network: texts are tokenised once,
sorted by token count and cut into batches under a token budget, so a batch holds texts of
nearly the same length and padding (work on tokens that are thrown away) stays small while
short texts still go many to a batch. Vectors are mean pooled over real tokens and
L2-normalised, which is what sentence-transformers does for this model, so cosine distance in
Weaviate means what the model was trained for. Session options are set for a small shared
machine: ``intra_op`` threads = cores (at most 2), one inter-op thread, sequential execution,
every graph optimisation (``benchmarks/embed_speed.py`` measures the alternatives).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from freshpoc_tasks.search.model import ModelFiles, installed_model

# Tokens per batch, padding included: large enough that ONNX Runtime's matrix kernels run at
# full speed, small enough that one batch of long chunks stays well under a second.
TOKEN_BUDGET = 4096
MAX_BATCH = 64


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps texts to fixed-size vectors; ``name`` says which vector space (model,
    version, text length) they live in, and goes into logs, benchmarks and stored object ids."""

    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in the order given."""
        ...


def plan_batches(lengths: Sequence[int], token_budget: int = TOKEN_BUDGET,
                 max_batch: int = MAX_BATCH) -> list[list[int]]:
    """Indexes of texts grouped into batches: by length, each padded batch under the budget.

    A batch costs (texts x its longest text) tokens; walking the texts from shortest to longest
    and closing a batch when the next one would break the budget keeps that product bounded
    and the padding small. A text longer than the budget still gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = max(lengths[i], 1)
        if current and ((len(current) + 1) * longest > token_budget or len(current) >= max_batch):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class OnnxEmbedder:
    """all-MiniLM-L6-v2 (or any BERT-style ONNX export with ``last_hidden_state``) on the CPU.

    The session is created on first use, so building an embedder in a constructor or at import
    time costs nothing. ``max_tokens`` defaults to the model's own (see ``ModelSpec``);
    ``batch_size`` caps texts per batch, ``token_budget`` caps padded tokens per batch.
    """

    def __init__(self, files: ModelFiles, *, batch_size: int = MAX_BATCH, max_tokens: int | None = None,
                 threads: int | None = None, token_budget: int = TOKEN_BUDGET,
                 spinning: bool = True, workers: int = 1) -> None:
        self.files = files
        self.workers = workers
        self.batch_size = batch_size
        self.max_tokens = max_tokens or files.spec.max_tokens
        self.threads = threads
        self.token_budget = token_budget
        self.spinning = spinning
        suffix = "" if self.max_tokens == files.spec.max_tokens else f"/{self.max_tokens}t"
        self.name = files.spec.label + suffix
        self.dimensions = files.spec.dimensions
        self.padding = 0.0  # share of padded token positions in the last embed() call
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: set[str] = set()

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.files.tokenizer))
        tok.enable_truncation(max_length=self.max_tokens)
        tok.no_padding()  # batches are padded here, to their own longest text
        opts = ort.SessionOptions()
        cores = self.threads or min(2, os.cpu_count() or 1)
        # workers > 1: that many batches at once, each on one thread (run() releases the GIL).
        opts.intra_op_num_threads = 1 if self.workers > 1 else cores
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not self.spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(self.files.onnx), sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tok

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text becomes after truncation (what a batch pays for)."""
        if self._session is None:
            self._load()
        return [len(e.ids) for e in self._tokenizer.encode_batch([t or " " for t in texts])]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import numpy as np

        if not texts:
            return []
        if self._session is None:
            self._load()
        enc = self._tokenizer.encode_batch([t or " " for t in texts])
        lengths = [len(e.ids) for e in enc]
        out: list[list[float]] = [[] for _ in texts]
        batches = plan_batches(lengths, self.token_budget, self.batch_size)

        def run(idx: list[int]) -> tuple[int, int]:
            width = max(lengths[i] for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, :lengths[i]] = enc[i].ids
                mask[row, :lengths[i]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            for row, i in enumerate(idx):
                out[i] = pooled[row].astype(float).tolist()
            return int(mask.sum()), mask.size

        if self.workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.workers, thread_name_prefix="embed") as pool:
                sizes = list(pool.map(run, batches))
        else:
            sizes = [run(idx) for idx in batches]
        real = sum(r for r, _ in sizes)
        padded = sum(p for _, p in sizes)
        self.padding = 1 - real / padded if padded else 0.0
        return out


def default_embedder(cache_dir: str | Path | None = None, model: str | None = None,
                     **options: Any) -> OnnxEmbedder:
    """The configured installed model (``FRESHPOC_EMBEDDING_MODEL``, else the default); raises
    ``ModelUnavailableError`` rather than downloading."""
    return OnnxEmbedder(installed_model(cache_dir, model), **options)


@functools.lru_cache(maxsize=4)
def shared_embedder(cache_dir: str | None = None, model: str | None = None) -> OnnxEmbedder:
    """One loaded model per process (a query API must not reload the model per request)."""
    return default_embedder(cache_dir, model)
