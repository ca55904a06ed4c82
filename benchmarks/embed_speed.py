"""Embedding set-ups side by side: chunks/s, padding, closeness to the current vectors, recall.

    .venv/bin/python benchmarks/embed_speed.py --sample-repo sqlalchemy=PATH \\
        [--repo flask=PATH --repo requests=PATH] [--sample 600] [--rounds 2] \\
        [--setups chosen|cuts|all] [--models-dir DIR]

Needs no server: the models ``freshpoc stack up`` installs (or ``--models-dir`` holding
``<model name>/model.onnx`` and ``tokenizer.json``) and fetched checkouts, none committed.

Throughput (chunks/s, and CPU ms per chunk: what a set-up costs whatever else runs) is measured
on ``--sample`` chunks drawn (fixed seed) from the code chunks of ``--sample-repo`` — a big real
repository such as sqlalchemy — every set-up embedding the same texts in interleaved passes, so a
busy shared machine slows all alike. "current" is the set-up
the project shipped before issue 16, rebuilt here as it was: the float model, texts cut at 256
tokens, sorted by characters and cut into batches of 32 padded to their longest text. Quality
next to speed: mean and minimum cosine of each set-up's vectors to the current ones, and
vector-only recall@5 on the labelled questions of each ``--repo`` (include/search/<name>.yaml),
computed in memory over all of that repository's chunks (the server's hybrid recall is
``benchmarks/search_quality.py``'s job). Each set-up is one line, so the choice is visible.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from freshpoc_tasks.search.chunker import Chunk, chunk_delta  # noqa: E402
from freshpoc_tasks.search.embedder import OnnxEmbedder, embed_chunks  # noqa: E402
from freshpoc_tasks.search.evaluation import Question, QuestionSet, load_questions, recall_at_k  # noqa: E402
from freshpoc_tasks.search.model import (  # noqa: E402
    BASELINE_MODEL,
    DEFAULT_MODEL,
    MODELS,
    ModelFiles,
    installed_model,
)

QUESTIONS = ROOT / "include" / "search"
CODE_TYPES = frozenset({"py.function", "py.class", "sql.statement", "dbt.model", "airflow.task"})


def checkout_files(path: Path) -> list[Any]:
    """Tracked files of a checkout at its HEAD as the analysis reads them (symlinks and files
    over 1 MiB left out, as the pipeline's snapshot reader does)."""
    from freshpoc_tasks.analysis.model import SourceFile

    listed = subprocess.run(["git", "-C", str(path), "ls-files", "-z"], capture_output=True,
                            check=True).stdout.split(b"\0")
    files = []
    for raw in filter(None, listed):
        f = path / raw.decode()
        if f.is_file() and not f.is_symlink() and f.stat().st_size <= 1 << 20:
            files.append(SourceFile.from_text(raw.decode(), f.read_bytes()))
    return files


def checkout_chunks(path: Path, repo_id: str) -> list[Chunk]:
    """Analyse a checkout with the pipeline's own core and cut it into the chunks embed stores."""
    from freshpoc_tasks.analysis.engine import analyse_repository

    files = checkout_files(path)
    delta = analyse_repository(files, repo_id)
    return chunk_delta(delta, {f.path: f.content for f in files})


def repo_arg(value: str) -> tuple[str, Path]:
    name, _, path = value.partition("=")
    if not path:
        raise argparse.ArgumentTypeError(f"{value!r}: expected NAME=PATH, e.g. flask=/work/refs/flask")
    return name, Path(path).expanduser().resolve()


def question_set(name: str) -> QuestionSet:
    return load_questions(QUESTIONS / f"{name}.yaml")


class CurrentEmbedder:
    """The set-up before issue 16, rebuilt for comparison: texts sorted by characters, batches
    of 32 padded by the tokenizer to their longest text, default session options."""

    def __init__(self, files: ModelFiles, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = f"{files.spec.label} (current)"
        self.padding = 0.0
        tok = Tokenizer.from_file(str(files.tokenizer))
        tok.enable_truncation(max_length=256)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.tok = tok
        self.session = ort.InferenceSession(str(files.onnx), sess_options=opts,
                                            providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import numpy as np

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        real = padded = 0
        for start in range(0, len(order), 32):
            idx = order[start:start + 32]
            enc = self.tok.encode_batch([texts[i] or " " for i in idx])
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            real += int(mask.sum())
            padded += mask.size
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            for row, i in enumerate(idx):
                out[i] = pooled[row].astype(float).tolist()
        self.padding = 1 - real / padded if padded else 0.0
        return out


@dataclass
class Setup:
    label: str
    embedder: Any
    chosen: bool = False


def model_files(name: str, models_dir: Path | None) -> ModelFiles:
    if models_dir is None:
        return installed_model(model=name)
    return ModelFiles(models_dir / name, MODELS[name])


def setups(models_dir: Path | None, threads: int, which: str) -> list[Setup]:
    """The current set-up, the chosen one (the shipped defaults), and the alternatives that were
    measured to choose it: ``cuts`` (how much of each chunk the model reads) or ``all`` (also
    batching, threads and the float model)."""
    base = model_files(BASELINE_MODEL, models_dir)
    quant = model_files(DEFAULT_MODEL, models_dir)
    chosen = OnnxEmbedder(quant, threads=threads)
    out = [Setup("current: float model, 32 per batch by characters", CurrentEmbedder(base, threads)),
           Setup(f"chosen: int8, {chosen.cut.tokens} tokens, tests {chosen.cut.tests or chosen.cut.tokens} "
                 "(shipped defaults)", chosen, chosen=True)]
    if which in ("cuts", "all"):
        out += [Setup(f"int8, {n} tokens, tests {t or n}",
                      OnnxEmbedder(quant, threads=threads, max_tokens=n, test_tokens=t))
                for n, t in ((256, None), (128, None), (256, 64), (192, 48), (128, 64), (128, 48),
                             (128, 32), (96, 48), (64, None))
                if (n, t) != (chosen.cut.tokens, chosen.cut.tests)]
    if which == "all":
        out += [
            Setup("float model, token batches", OnnxEmbedder(base, threads=threads)),
            Setup("int8 model, current batching", CurrentEmbedder(quant, threads)),
            Setup("int8, 2048-token batches", OnnxEmbedder(quant, threads=threads, token_budget=2048)),
            Setup("int8, 8192-token batches", OnnxEmbedder(quant, threads=threads, token_budget=8192)),
            Setup("int8, a batch at a time on 2 spinning threads", OnnxEmbedder(
                quant, threads=threads, workers=1, spinning=True)),
            Setup("int8, a batch at a time on 2 threads", OnnxEmbedder(quant, threads=threads, workers=1)),
            Setup("int8, a batch at a time on 1 thread", OnnxEmbedder(quant, threads=1, workers=1)),
        ]
    return out


Vectors = list[list[float]]


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (ONNX Runtime's and the tokenizer's included)."""
    t = os.times()
    return t.user + t.system


def throughput(embedders: Sequence[Any], chunks: Sequence[Chunk], rounds: int,
               cpu: list[float] | None = None) -> tuple[list[float], list[Vectors]]:
    """Chunks/s of each embedder over the same chunks (each through its own cut), passes
    interleaved; and the vectors. ``cpu``, when given, receives each one's CPU ms per chunk:
    on a shared machine the wall clock says how busy the others were, CPU what a set-up costs."""
    for e in embedders:
        embed_chunks(e, list(chunks[:4]))  # load the session outside the clock
    spent = [0.0] * len(embedders)
    used = [0.0] * len(embedders)
    vectors: list[Vectors] = [[] for _ in embedders]
    for _ in range(rounds):
        for i, e in enumerate(embedders):
            start, start_cpu = time.perf_counter(), _cpu_seconds()
            vectors[i] = embed_chunks(e, list(chunks))
            spent[i] += time.perf_counter() - start
            used[i] += _cpu_seconds() - start_cpu
    if cpu is not None:
        cpu[:] = [1000 * u / (rounds * len(chunks)) for u in used]
    return [rounds * len(chunks) / s for s in spent], vectors


def cosines(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> tuple[float, float]:
    import numpy as np

    dots = (np.asarray(a) * np.asarray(b)).sum(axis=1)
    return float(dots.mean()), float(dots.min())


def vector_recall(embedder: Any, chunks: Sequence[Chunk], questions: Sequence[Question], k: int = 5) -> float:
    """Recall@k of nearest-vector search in memory (cosine over normalised vectors)."""
    import numpy as np

    matrix = np.asarray(embed_chunks(embedder, chunks), dtype=np.float32)
    asked = np.asarray(embedder.embed([q.text for q in questions]), dtype=np.float32)
    ranked = {}
    for q, v in zip(questions, asked, strict=True):
        order = np.argsort(-(matrix @ v))[: k * 4]
        ranked[q.text] = [chunks[i].xid for i in order]
    return recall_at_k(questions, ranked.__getitem__, k).value


def code_sample(chunks: Sequence[Chunk], n: int, seed: int = 0) -> list[Chunk]:
    code = [c for c in chunks if c.node_type in CODE_TYPES]
    return random.Random(seed).sample(code, min(n, len(code)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample-repo", type=repo_arg, required=True, help="NAME=PATH of a big checkout")
    ap.add_argument("--repo", type=repo_arg, action="append", default=[],
                    help="NAME=PATH of a checkout with questions in include/search/NAME.yaml")
    ap.add_argument("--sample", type=int, default=600, help="code chunks timed")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved passes")
    ap.add_argument("--models-dir", type=Path, help="folder of unpacked models (default: installed)")
    ap.add_argument("--setups", choices=("chosen", "cuts", "all"), default="cuts",
                    help="current vs chosen only, or also the cuts, or every alternative")
    args = ap.parse_args()

    threads = min(2, os.cpu_count() or 1)
    name, path = args.sample_repo
    t0 = time.perf_counter()
    sample = code_sample(checkout_chunks(path, f"bench/{name}"), args.sample)
    prepared = time.perf_counter() - t0
    runs = setups(args.models_dir, threads, args.setups)
    cpu: list[float] = []
    speed, vectors = throughput([s.embedder for s in runs], sample, args.rounds, cpu)
    repos = [(n, p, question_set(n)) for n, p in args.repo]
    corpora = {n: checkout_chunks(p, qs.repo_id) for n, p, qs in repos}

    print(f"embedding set-ups on {len(sample)} code chunks of {name} (analysed and chunked in "
          f"{prepared:.0f}s), {args.rounds} interleaved passes, {threads} threads, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    head = (f"{'set-up':<58} {'chunks/s':>8} {'vs cur':>6} {'CPU ms':>6} {'pad':>5} {'cos mean':>8} "
            f"{'cos min':>7}")
    for n, _, _ in repos:
        head += f" {'vec@5 ' + n:>15}"
    print(head)
    for s, cs, ms, vec in zip(runs, speed, cpu, vectors, strict=True):
        mean, low = cosines(vec, vectors[0])
        line = (f"{s.label:<58} {cs:8.1f} {cs / speed[0]:5.2f}x {ms:6.2f} {s.embedder.padding:5.2f} "
                f"{mean:8.3f} {low:7.3f}")
        for n, _, qs in repos:
            line += f" {vector_recall(s.embedder, corpora[n], qs.questions):15.3f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
