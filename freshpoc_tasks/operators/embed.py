"""Embed one analysed repository+commit into Weaviate's ``CodeChunk`` collection.

Inputs are staged artifacts in MinIO, so the task reruns without the stages before it: the
analysis delta (required) and the source snapshot (optional; without it chunks carry names,
signatures and descriptions but no code lines). Only chunks whose uuid5 is not stored yet are
embedded, and the repository's chunks that this commit no longer produces are deleted.

A big repository takes minutes, so the task logs ``done/total, chunks/s, ETA`` every
:data:`PROGRESS_EVERY` seconds, and stores vectors in bounded steps: a retry (or a rerun of the
same commit) embeds only what is not stored yet. The model is the configured one
(``FRESHPOC_EMBEDDING_MODEL`` or the operator's ``model``), never downloaded here.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from airflow.sdk import BaseOperator

from freshpoc_tasks.contracts.locations import BUCKET as DEFAULT_BUCKET
from freshpoc_tasks.contracts.locations import parse_uri, snapshot_key, staging_key

MAX_SOURCE_BYTES = 1 << 20
PROGRESS_EVERY = 15.0  # seconds between progress lines (the issue asks for at most 30)
SOURCE_SUFFIXES = frozenset({".py", ".pyi", ".sql", ".yml", ".yaml", ".csv", ".md", ".markdown"})


def load_delta(path: str | Path) -> Any:
    """A GraphDelta from JSONL, streamed (header, nodes, ...) or as one ``graph_delta_full`` line."""
    from freshpoc_tasks.contracts.base import read_jsonl
    from freshpoc_tasks.contracts.graph import GRAPH_RECORDS, GraphDelta

    records = list(read_jsonl(path, {**GRAPH_RECORDS, GraphDelta.KIND: GraphDelta}))
    if len(records) == 1 and isinstance(records[0], GraphDelta):
        return records[0]
    return GraphDelta.from_records(records)


def read_snapshot(path: str | Path, wanted: Sequence[str]) -> dict[str, bytes]:
    """Text-like files of a snapshot tarball, by repo-relative path, read without extracting.

    Members are never written to disk, so hostile names (``../``, links) cannot escape. A single
    top-level folder (``<repo>-<sha>/``, as ``git archive --prefix`` makes) is dropped when that
    is what makes the analysed paths match.
    """
    raw: dict[str, bytes] = {}
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            if not member.isfile() or member.size > MAX_SOURCE_BYTES:
                continue
            name = member.name.removeprefix("./")
            if name.startswith("/") or ".." in PurePosixPath(name).parts:
                continue  # not a path inside the repository
            if PurePosixPath(name).suffix.lower() not in SOURCE_SUFFIXES:
                continue
            fh = tar.extractfile(member)
            if fh is not None:
                raw[name] = fh.read()
    wanted_set = set(wanted)
    stripped = {n.split("/", 1)[1]: d for n, d in raw.items() if "/" in n}
    if len(wanted_set & stripped.keys()) > len(wanted_set & raw.keys()):
        return stripped
    return raw


class EmbedOperator(BaseOperator):
    """Chunk, embed and upsert one repository+commit's analysis into Weaviate.

    :param repo_id: repository id (``github.com/org/name``, ``local/<dir>``).
    :param commit: analysed commit sha.
    :param analysis_uri: ``s3://bucket/key`` or key of the analysis delta; default
        ``staging/{repo_id}/{commit}/analyse.jsonl.gz`` in ``bucket``.
    :param snapshot_uri: ``s3://bucket/key`` or key of the source tarball; default
        ``snapshots/{repo_id}/{commit}.tar.gz``. Optional: a missing object is logged, not fatal.
    :param bucket: bucket for bare keys (default ``freshpoc``).
    :param s3_conn_id: Airflow connection for MinIO/S3.
    :param weaviate_conn_id: Airflow connection for Weaviate.
    :param collection: Weaviate collection (default ``CodeChunk``).
    :param model: embedding model name (``freshpoc_tasks.search.model.MODELS``); default the one
        ``FRESHPOC_EMBEDDING_MODEL`` names, else the shipped default. Must be installed.
    :return: counts: chunks, unchanged, embedded, inserted, deleted, source_files,
        and ``model`` (the vector space the chunks are stored in).
    """

    template_fields: Sequence[str] = ("repo_id", "commit", "analysis_uri", "snapshot_uri", "collection")

    def __init__(self, *, repo_id: str, commit: str, analysis_uri: str | None = None,
                 snapshot_uri: str | None = None, bucket: str = DEFAULT_BUCKET,
                 s3_conn_id: str = "freshpoc_s3", weaviate_conn_id: str = "freshpoc_weaviate",
                 collection: str = "CodeChunk", model: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repo_id = repo_id
        self.commit = commit
        self.analysis_uri = analysis_uri
        self.snapshot_uri = snapshot_uri
        self.bucket = bucket
        self.s3_conn_id = s3_conn_id
        self.weaviate_conn_id = weaviate_conn_id
        self.collection = collection
        self.model = model

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from freshpoc_tasks.hooks.staging import StagingHook
        from freshpoc_tasks.hooks.weaviate import CodeChunkHook
        from freshpoc_tasks.operators import metrics
        from freshpoc_tasks.search.chunker import chunk_delta
        from freshpoc_tasks.search.embedder import shared_embedder
        from freshpoc_tasks.search.progress import Progress, Ticker

        timer = metrics.StageTimer()
        embedder = shared_embedder(model=self.model)  # fails here, before any work, if not installed
        staging = StagingHook(self.s3_conn_id, self.bucket)
        analysis = self.analysis_uri or staging_key(self.repo_id, self.commit, "analyse")
        snapshot = self.snapshot_uri or snapshot_key(self.repo_id, self.commit, "tar.gz")
        a_bucket, a_key = parse_uri(analysis, self.bucket)
        s_bucket, s_key = parse_uri(snapshot, self.bucket)
        with tempfile.TemporaryDirectory(prefix="freshpoc-embed-") as tmp:
            if not staging.exists(analysis):
                raise FileNotFoundError(
                    f"no analysis artifact at s3://{a_bucket}/{a_key}; run the analyse stage")
            delta = load_delta(staging.get_file(analysis, tmp))
            if delta.repo_id != self.repo_id or (delta.commit and delta.commit != self.commit):
                raise ValueError(f"s3://{a_bucket}/{a_key} holds {delta.repo_id}@{delta.commit}, "
                                 f"not {self.repo_id}@{self.commit}")
            sources: dict[str, bytes] = {}
            if staging.exists(snapshot):
                local = staging.get_file(snapshot, tmp)
                sources = read_snapshot(local, [n.path for n in delta.nodes if n.path])
            else:
                self.log.warning("no snapshot at s3://%s/%s: chunks get names and docs, no code lines",
                                 s_bucket, s_key)
        chunks = chunk_delta(delta, sources)
        self.log.info("%s@%s: %d chunks from %d source files; model %s", self.repo_id, self.commit[:12],
                      len(chunks), len(sources), embedder.name)
        progress = Progress()
        with CodeChunkHook(conn_id=self.weaviate_conn_id, collection=self.collection,
                           embedder=embedder) as hook, Ticker(progress, self.log.info, PROGRESS_EVERY):
            result = hook.sync(self.repo_id, chunks, progress=progress)
        counts = {**result.as_dict(), "source_files": len(sources)}
        seconds = timer.seconds
        metrics.emit_embed(self.repo_id, counts, seconds)
        self.log.info("embedded %s@%s into %s in %.1fs: %s", self.repo_id, self.commit[:12], self.collection,
                      seconds, counts)
        return {"repo_id": self.repo_id, "commit": self.commit, **counts, "model": embedder.name}
