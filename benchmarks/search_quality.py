"""Search quality and embedding speed on the example projects.

    .venv/bin/python benchmarks/search_quality.py [--keep] [--misses]

Run it from the checkout with the project's interpreter (``.venv/bin/python``; ``make bench``
runs it with the others) while the stack is up (``freshpoc stack up``): it needs Weaviate and
the embedding model ``stack up`` installs, and no reference checkout.

Analyses include/examples/ as one repository, chunks it, embeds it with the default local model
into a private Weaviate collection (real server from `freshpoc stack up`, dropped afterwards
unless --keep), then asks the labelled questions of include/search/questions.yaml and prints
recall@5 for hybrid next to BM25-only and vector-only. Throughput is chunks/s of the embedder on
this machine, printed against an unbatched baseline measured in the same run. Exits 1 when
hybrid recall@5 is below 0.8.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import conftest  # noqa: E402,F401  (exports the AIRFLOW_CONN_* of the local stack)

from freshpoc_tasks.analysis.engine import analyse_repository  # noqa: E402
from freshpoc_tasks.analysis.model import SourceFile  # noqa: E402
from freshpoc_tasks.hooks.weaviate import HYBRID_ALPHA, CodeChunkHook  # noqa: E402
from freshpoc_tasks.search.chunker import chunk_delta  # noqa: E402
from freshpoc_tasks.search.embedder import OnnxEmbedder  # noqa: E402
from freshpoc_tasks.search.evaluation import load_questions, recall_at_k  # noqa: E402
from freshpoc_tasks.search.model import ModelFiles, ensure_model  # noqa: E402

EXAMPLES = ROOT / "include" / "examples"
QUESTIONS = ROOT / "include" / "search" / "questions.yaml"
TARGET = 0.8


def throughput(embedders: list[OnnxEmbedder], texts: list[str], rounds: int) -> list[float]:
    """Chunks/s of each embedder, passes interleaved so a busy shared machine slows all alike."""
    for e in embedders:
        e.embed(texts[:4])  # load the session outside the clock
    spent = [0.0] * len(embedders)
    for _ in range(rounds):
        for i, e in enumerate(embedders):
            start = time.perf_counter()
            e.embed(texts)
            spent[i] += time.perf_counter() - start
    return [rounds * len(texts) / s for s in spent]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the benchmark collection")
    ap.add_argument("--misses", action="store_true", help="print the questions each mode missed")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the chunks for throughput")
    args = ap.parse_args()

    qs = load_questions(QUESTIONS)
    files = [SourceFile.from_text(p.relative_to(EXAMPLES).as_posix(), p.read_bytes())
             for p in sorted(EXAMPLES.rglob("*")) if p.is_file()]
    delta = analyse_repository(files, qs.repo_id)
    chunks = chunk_delta(delta, {f.path: f.content for f in files})
    texts = [c.text for c in chunks]
    known = {c.xid for c in chunks}
    unknown = [x for q in qs.questions for x in q.expected if x not in known]
    if unknown:
        print(f"expected nodes with no chunk: {unknown}", file=sys.stderr)
        return 2

    files_ = ModelFiles(ensure_model())
    threads = min(2, os.cpu_count() or 1)
    batched = OnnxEmbedder(files_, batch_size=32, threads=threads)
    single = OnnxEmbedder(files_, batch_size=1, threads=threads)
    speed, base = throughput([batched, single], texts, args.rounds)

    collection = f"CodeChunkBench{uuid.uuid4().hex[:8]}"
    with CodeChunkHook(collection=collection, embedder=batched) as hook:
        try:
            t0 = time.perf_counter()
            first = hook.sync(qs.repo_id, chunks)
            sync_s = time.perf_counter() - t0
            again = hook.sync(qs.repo_id, chunks)
            results = {}
            for mode in ("hybrid", "bm25", "vector"):
                results[mode] = recall_at_k(
                    qs.questions,
                    lambda q, m=mode: [h.xid for h in hook.search(q, repo_id=qs.repo_id, limit=5, mode=m)])
        finally:
            if not args.keep:
                hook.drop_collection()

    print(f"search quality on include/examples ({len(files)} files -> {len(chunks)} chunks), "
          f"{len(qs.questions)} questions, model {batched.name}")
    print(f"{'mode':<8} {'recall@5':>8}  found   (hybrid: relative-score fusion, alpha {HYBRID_ALPHA})")
    for mode, r in results.items():
        print(f"{mode:<8} {r.value:>8.3f}  {r.found}/{r.total}")
    print(f"first sync: {first.inserted} objects written, {first.embedded} embedded in {sync_s:.1f}s; "
          f"rerun: {again.inserted} new objects, {again.embedded} embedded, {again.deleted} deleted")
    load = os.getloadavg()[0]
    print(f"embedding throughput ({threads} threads, {os.cpu_count()} cores, load {load:.1f}, "
          f"{args.rounds} interleaved passes): {speed:.1f} chunks/s batched (32) vs {base:.1f} chunks/s "
          f"unbatched baseline -> {speed / base:.2f}x")
    if args.misses:
        for mode, r in results.items():
            for q, top in r.misses:
                print(f"  [{mode}] missed: {q}\n      top5: {list(top)}")
    return 0 if results["hybrid"].value >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
