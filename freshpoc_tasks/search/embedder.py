"""Turn chunk texts into vectors behind one small interface.

The default runs the installed ONNX model on the CPU with no network: texts are tokenised once,
sorted by token count and cut into batches under a token budget, so a batch holds texts of
nearly the same length and padding (work on tokens that are thrown away) stays small while
short texts still go many to a batch. Vectors are mean pooled over real tokens and
L2-normalised, which is what sentence-transformers does for this model, so cosine distance in
Weaviate means what the model was trained for. Session options are set for a small shared
machine, where embedding runs beside the graph write, the report and Weaviate's indexing: one
batch per core at a time, each on one ONNX Runtime thread, and threads that sleep instead of
spinning while they wait. A batch split over two threads makes each operator wait for the slower
one, and waiting threads spin: on the 2-core machine at load 12, sqlalchemy's chunks cost 4.9 ms
of CPU each that way against 8.2 ms on two spinning threads per batch, at 76 against 57 chunks/s
(``benchmarks/embed_speed.py --setups all`` measures the alternatives).

How much of a chunk the model reads is a choice of its own (:class:`Cut`): the model costs about
the same per token, so a text cut at 128 tokens costs half of one cut at 256. Chunks go through
:func:`embed_chunks`, which lets an embedder with a cut read tests and generated files shorter
than definitions: they are most of a big repository's chunks (64 % of sqlalchemy's), ranking
demotes them anyway, and their header (name, path, signature) is what a question about tests
matches. The cut is part of the embedder's ``name``, so stored ids change with it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from freshpoc_tasks.search.chunker import Chunk
from freshpoc_tasks.search.model import ModelFiles, installed_model
from freshpoc_tasks.search.ranking import is_generated, is_test

# Tokens per batch, padding included: large enough that ONNX Runtime's matrix kernels run at
# full speed, small enough that one batch of long chunks stays well under a second.
TOKEN_BUDGET = 4096
MAX_BATCH = 64
# Tokens of a chunk the model reads, chosen by benchmarks/embed_speed.py and search_quality.py
# (speed and recall printed side by side): definitions and documents at 128, tests and generated
# files at 32 (most of their header: kind, name in words, path).
DEFAULT_TOKENS = 128
TEST_TOKENS = 32


@dataclass(frozen=True)
class Cut:
    """Tokens of a chunk's text the model reads: ``tokens`` for definitions and documents,
    ``tests`` for tests and generated files (None: the same as everything else)."""

    tokens: int
    tests: int | None = None

    def tokens_for(self, chunk: Chunk) -> int:
        if self.tests is not None and (is_test(chunk.path, chunk.name) or is_generated(chunk.path)):
            return min(self.tests, self.tokens)
        return self.tokens

    def suffix(self, model_tokens: int) -> str:
        """What goes after the model's label in the vector space's name ("" for the model's own
        length and no shorter test cut, so vectors stored before cuts existed keep their ids)."""
        out = "" if self.tokens == model_tokens else f"/{self.tokens}t"
        return out + ("" if self.tests is None or self.tests >= self.tokens else f"/tests{self.tests}t")


# Characters of text kept per token before tokenising a text's head: a token of code or prose
# spans 3.7 characters at the median and 5.5 at most over the first 128 tokens of sqlalchemy's
# chunks (indentation is free): at 8 none of them falls short (one that does is tokenised whole).
HEAD_CHARS_PER_TOKEN = 8


def text_head(text: str, tokens: int) -> str:
    """The start of ``text`` that is enough for its first ``tokens`` tokens, cut at whitespace
    so no word is split; the whole text when it is short or has no whitespace to cut at."""
    limit = tokens * HEAD_CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit))
    return text[:cut] if cut > 0 else text


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
    time costs nothing. ``max_tokens`` (default :data:`DEFAULT_TOKENS`, at most the model's own
    length, see ``ModelSpec``) and ``test_tokens`` (default :data:`TEST_TOKENS`; None reads tests
    like everything else) make the :class:`Cut`; ``batch_size`` caps texts per batch,
    ``token_budget`` caps padded tokens per batch. ``workers`` batches run at once (default one
    per core, at most 2), each on one thread; with ``workers=1`` a batch runs on ``threads``
    threads (default one per core, at most 2). ``spinning`` lets idle ONNX Runtime threads spin.
    """

    def __init__(self, files: ModelFiles, *, batch_size: int = MAX_BATCH, max_tokens: int | None = None,
                 test_tokens: int | None = TEST_TOKENS, threads: int | None = None,
                 token_budget: int = TOKEN_BUDGET, spinning: bool = False,
                 workers: int | None = None) -> None:
        self.files = files
        self.workers = workers or min(2, os.cpu_count() or 1)
        self.batch_size = batch_size
        self.max_tokens = min(max_tokens or DEFAULT_TOKENS, files.spec.max_tokens)
        self.cut = Cut(self.max_tokens, test_tokens)
        self.threads = threads
        self.token_budget = token_budget
        self.spinning = spinning
        self.name = files.spec.label + self.cut.suffix(files.spec.max_tokens)
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
        opts.intra_op_num_threads = 1 if self.workers > 1 else cores
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not self.spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(self.files.onnx), sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tok

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text becomes after truncation (what a batch pays for)."""
        return [len(r) for r in self.token_ids(texts)]

    def token_ids(self, texts: Sequence[str], limits: Sequence[int] | None = None) -> list[list[int]]:
        """Token ids of each text cut at its limit, as if the whole text had been tokenised.

        Only the head of a text is read, so it is tokenised from a prefix cut at whitespace
        (:func:`text_head`): tokenising sqlalchemy's whole chunks to keep 128 or 32 tokens of
        each cost more than a tenth of embedding them. Words before a whitespace cut tokenise as
        in the whole text (BERT splits words at whitespace first), so a prefix that still gives
        at least the limit's tokens gives exactly the whole text's first ones; the rare prefix
        that gives fewer is tokenised again whole.
        """
        if self._session is None:
            self._load()
        cap = self.max_tokens
        wanted = [min(n, cap) for n in limits] if limits is not None else [cap] * len(texts)
        full = [t or " " for t in texts]
        heads = [text_head(t, n) for t, n in zip(full, wanted, strict=True)]
        rows = [e.ids for e in self._tokenizer.encode_batch(heads)]
        again = [i for i, (h, t, r, n) in enumerate(zip(heads, full, rows, wanted, strict=True))
                 if len(h) < len(t) and len(r) < n]
        if again:
            for i, e in zip(again, self._tokenizer.encode_batch([full[i] for i in again]), strict=True):
                rows[i] = e.ids
        # The tokenizer already cut at max_tokens, keeping the closing [SEP]; do the same at n.
        return [r if len(r) <= n else r[:max(n, 2) - 1] + r[-1:] for r, n in zip(rows, wanted, strict=True)]

    def embed_chunks(self, chunks: Sequence[Chunk]) -> list[list[float]]:
        """One vector per chunk, each text cut where :attr:`cut` says for its kind."""
        return self.embed([c.text for c in chunks], limits=[self.cut.tokens_for(c) for c in chunks])

    def embed(self, texts: Sequence[str], limits: Sequence[int] | None = None) -> list[list[float]]:
        """One vector per text; ``limits`` cuts each text at its own token count (at most
        ``max_tokens``; the closing ``[SEP]`` is kept, as the tokenizer's own truncation does)."""
        import numpy as np

        if not texts:
            return []
        if self._session is None:
            self._load()
        rows = self.token_ids(texts, limits)
        lengths = [len(r) for r in rows]
        out: list[list[float]] = [[] for _ in texts]
        batches = plan_batches(lengths, self.token_budget, self.batch_size)

        def run(idx: list[int]) -> tuple[int, int]:
            width = max(lengths[i] for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, :lengths[i]] = rows[i]
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

        if self.workers > 1 and len(batches) > 1:  # run() releases the GIL inside ONNX Runtime
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.workers, thread_name_prefix="embed") as pool:
                sizes = list(pool.map(run, batches))
        else:
            sizes = [run(idx) for idx in batches]
        real = sum(r for r, _ in sizes)
        padded = sum(p for _, p in sizes)
        self.padding = 1 - real / padded if padded else 0.0
        return out


def embed_chunks(embedder: Embedder, chunks: Sequence[Chunk]) -> list[list[float]]:
    """Vectors of ``chunks``: through the embedder's own cut when it has one (``embed_chunks``),
    else of their whole texts (any :class:`Embedder` works)."""
    own = getattr(embedder, "embed_chunks", None)
    return own(chunks) if callable(own) else embedder.embed([c.text for c in chunks])


def default_embedder(cache_dir: str | Path | None = None, model: str | None = None,
                     **options: Any) -> OnnxEmbedder:
    """The configured installed model (``FRESHPOC_EMBEDDING_MODEL``, else the default); raises
    ``ModelUnavailableError`` rather than downloading."""
    return OnnxEmbedder(installed_model(cache_dir, model), **options)


@functools.lru_cache(maxsize=4)
def shared_embedder(cache_dir: str | None = None, model: str | None = None) -> OnnxEmbedder:
    """One loaded model per process (a query API must not reload the model per request)."""
    return default_embedder(cache_dir, model)
