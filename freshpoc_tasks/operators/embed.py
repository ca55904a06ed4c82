"""Embed one analysed repository+commit into Weaviate's ``CodeChunk`` collection.

Inputs are staged artifacts in MinIO, so the task reruns without the stages before it: the
analysis delta (required) and the source snapshot (optional; without it chunks carry names,
signatures and descriptions but no code lines). Only chunks whose uuid5 is not stored yet are
embedded, and the repository's chunks that this commit no longer produces are deleted.
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
    :return: counts: chunks, unchanged, embedded, inserted, deleted, source_files.
    """

    template_fields: Sequence[str] = ("repo_id", "commit", "analysis_uri", "snapshot_uri", "collection")

    def __init__(self, *, repo_id: str, commit: str, analysis_uri: str | None = None,
                 snapshot_uri: str | None = None, bucket: str = DEFAULT_BUCKET,
                 s3_conn_id: str = "freshpoc_s3", weaviate_conn_id: str = "freshpoc_weaviate",
                 collection: str = "CodeChunk", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repo_id = repo_id
        self.commit = commit
        self.analysis_uri = analysis_uri
        self.snapshot_uri = snapshot_uri
        self.bucket = bucket
        self.s3_conn_id = s3_conn_id
        self.weaviate_conn_id = weaviate_conn_id
        self.collection = collection

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from freshpoc_tasks.hooks.staging import StagingHook
        from freshpoc_tasks.hooks.weaviate import CodeChunkHook
        from freshpoc_tasks.search.chunker import chunk_delta

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
        with CodeChunkHook(conn_id=self.weaviate_conn_id, collection=self.collection) as hook:
            result = hook.sync(self.repo_id, chunks)
        counts = {**result.as_dict(), "source_files": len(sources)}
        self.log.info("embedded %s@%s into %s: %s", self.repo_id, self.commit[:12], self.collection, counts)
        return {"repo_id": self.repo_id, "commit": self.commit, **counts}
