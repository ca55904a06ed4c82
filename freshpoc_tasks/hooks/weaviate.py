"""The ``CodeChunk`` collection in Weaviate, on top of the provider's ``WeaviateHook``.

Object ids are uuid5 of a chunk's graph ``xid``, content hash and vector space (the embedder's
name: model and text length), so syncing a repository is a set difference: ids already stored
are left alone (not even re-embedded), new ids are embedded and batch-inserted, and ids of this
repository that the new commit no longer produces (deleted nodes, changed text, another model)
are deleted. Rerunning the same commit therefore writes nothing.

New chunks are embedded and written in bounded steps of :data:`EMBED_STEP` chunks, shortest texts
first: each step is written while the next one is embedded, and stored before that one is
written, so a task that fails (or is killed) after an hour keeps that hour's vectors and its
retry embeds only what is missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from airflow.providers.weaviate.hooks.weaviate import WeaviateHook
from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery

from freshpoc_tasks.search.chunker import Chunk
from freshpoc_tasks.search.embedder import Embedder, embed_chunks
from freshpoc_tasks.search.hits import SearchHit, best_per_node, check_mode
from freshpoc_tasks.search.progress import Progress, weight_of
from freshpoc_tasks.search.ranking import TEST_PENALTY, prefer_definitions

DEFAULT_COLLECTION = "CodeChunk"
BATCH = 200
# Chunks embedded and stored per step: a few seconds of work on two cores, so a retry loses little.
EMBED_STEP = 512
# Weaviate caps ids per filter-driven page; stay well under its QUERY_MAXIMUM_RESULTS (10 000).
ID_PAGE = 500
RETURNED = ["xid", "repo_id", "node_type", "language", "name", "path", "part", "snippet"]
BM25_PROPERTIES = ["name^2", "text"]
# Chosen on the tuning halves of include/search/{flask,requests}.yaml (benchmarks/search_quality.py,
# 15:28 UTC 2026-12-02, vectors of the 128/32-token cut): alpha 0.8 with relative-score fusion,
# tuning recall@5 0.825; held-out hybrid 0.95 (flask) and 1.00 (requests), BM25 0.75/0.85,
# vector 0.90/0.95.
HYBRID_ALPHA = 0.8


class WeaviateSyncError(RuntimeError):
    """Weaviate refused some objects; the message lists the first errors."""


@dataclass(frozen=True)
class SyncResult:
    """Counts of one repository sync; ``embedded`` == ``inserted`` unless a write failed."""

    chunks: int
    unchanged: int
    embedded: int
    inserted: int
    deleted: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _keyword(name: str) -> Property:
    """Exact-match fields: filterable, not tokenised into words, not in BM25."""
    return Property(name=name, data_type=DataType.TEXT, tokenization=Tokenization.FIELD,
                    index_filterable=True, index_searchable=False)


def _words(name: str) -> Property:
    """Text searched by BM25, never filtered on: no filterable index, which Weaviate would build
    word by word beside the searchable one (a fifth of its CPU storing sqlalchemy's chunks)."""
    return Property(name=name, data_type=DataType.TEXT, tokenization=Tokenization.WORD,
                    index_filterable=False, index_searchable=True)


def collection_properties() -> list[Property]:
    return [
        _keyword("xid"), _keyword("repo_id"), _keyword("node_type"), _keyword("language"),
        _keyword("path"), _keyword("content_hash"),
        _words("name"), _words("text"),
        Property(name="snippet", data_type=DataType.TEXT, index_filterable=False, index_searchable=False),
        Property(name="part", data_type=DataType.INT),
    ]


def build_filters(repo_id: str | None = None, language: str | Sequence[str] | None = None,
                  node_type: str | Sequence[str] | None = None) -> Any:
    """AND of the given exact-match filters; a sequence means any of its values."""
    parts = []
    for prop, value in (("repo_id", repo_id), ("language", language), ("node_type", node_type)):
        if value is None:
            continue
        if isinstance(value, str):
            parts.append(Filter.by_property(prop).equal(value))
        else:
            parts.append(Filter.by_property(prop).contains_any(list(value)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Filter.all_of(parts)


class CodeChunkHook(WeaviateHook):
    """Sync and search code chunks; one client per hook, closed by ``close()`` or ``with``.

    :param conn_id: Airflow connection of type weaviate (default ``freshpoc_weaviate``).
    :param collection: collection name; tests and benchmarks pass their own to stay isolated.
    :param embedder: turns query texts into vectors for hybrid and vector search (the default
        local model is loaded on first use when none is given).
    """

    def __init__(self, conn_id: str = "freshpoc_weaviate", collection: str = DEFAULT_COLLECTION,
                 embedder: Embedder | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.collection_name = collection
        self._embedder = embedder

    def _extract_auth_credentials(self, conn: Any) -> Any:
        """No credentials in the connection means anonymous access (the local stack), not an
        empty OIDC login, which the provider would send and the client would warn about."""
        extras = conn.extra_dejson
        if not (conn.login or conn.password or any(
                extras.get(k) for k in ("api_key", "token", "access_token", "client_secret"))):
            return None
        return super()._extract_auth_credentials(conn)

    def __enter__(self) -> CodeChunkHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if "conn" in self.__dict__:
            self.conn.close()
            del self.__dict__["conn"]

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from freshpoc_tasks.search.embedder import shared_embedder

            self._embedder = shared_embedder()
        return self._embedder

    # -- schema ---------------------------------------------------------------------------------
    def ensure_collection(self) -> bool:
        """Create the collection from code if missing; True when it was created now."""
        client = self.conn
        if client.collections.exists(self.collection_name):
            return False
        client.collections.create(
            self.collection_name,
            description="Chunks of code and docs, one or more per graph node (xid).",
            properties=collection_properties(),
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.COSINE, ef_construction=128, max_connections=32),
            ),
            inverted_index_config=Configure.inverted_index(bm25_b=0.75, bm25_k1=1.2),
        )
        return True

    def drop_collection(self) -> None:
        self.conn.collections.delete(self.collection_name)

    @property
    def collection(self) -> Any:
        return self.conn.collections.get(self.collection_name)

    # -- writes ---------------------------------------------------------------------------------
    def stored_ids(self, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of ``ids`` are already stored (asked page by page, never the whole collection)."""
        wanted = list(dict.fromkeys(ids))
        found: set[uuid.UUID] = set()
        for start in range(0, len(wanted), ID_PAGE):
            page = wanted[start:start + ID_PAGE]
            res = self.collection.query.fetch_objects(
                filters=Filter.by_id().contains_any(page), limit=len(page), return_properties=[])
            found.update(uuid.UUID(str(o.uuid)) for o in res.objects)
        return found

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]],
               ids: Sequence[uuid.UUID] | None = None) -> int:
        """Batch-write chunks with their vectors under ``ids`` (default: each chunk's id in the
        default embedder's vector space); raises on any refusal."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if ids is None:
            ids = [c.object_id(self.embedder.name) for c in chunks]
        written = 0
        for start in range(0, len(chunks), BATCH):
            objs = [DataObject(properties=c.properties(), uuid=u, vector=list(v))
                    for c, v, u in zip(chunks[start:start + BATCH], vectors[start:start + BATCH],
                                       ids[start:start + BATCH], strict=True)]
            res = self.collection.data.insert_many(objs)
            if res.has_errors:
                first = list(res.errors.values())[:3]
                raise WeaviateSyncError(f"{len(res.errors)} of {len(objs)} chunks refused: {first}")
            written += len(objs)
        return written

    def delete_stale(self, repo_id: str, keep: Iterable[uuid.UUID]) -> int:
        """Delete this repository's chunks whose ids are not in ``keep``; returns how many."""
        keep_ids = list(dict.fromkeys(keep))
        where = Filter.by_property("repo_id").equal(repo_id)
        if keep_ids:
            where = where & Filter.by_id().contains_none(keep_ids)
        deleted = 0
        while True:  # a delete_many call removes at most QUERY_MAXIMUM_RESULTS objects
            res = self.collection.data.delete_many(where=where)
            deleted += res.successful
            if res.failed:
                raise WeaviateSyncError(f"{res.failed} stale chunks of {repo_id} could not be deleted")
            if res.matches == 0 or res.successful == 0:
                return deleted

    def count(self, repo_id: str | None = None) -> int:
        res = self.collection.aggregate.over_all(total_count=True, filters=build_filters(repo_id))
        return int(res.total_count or 0)

    def sync(self, repo_id: str, chunks: Sequence[Chunk], embedder: Embedder | None = None,
             progress: Progress | None = None, step: int = EMBED_STEP) -> SyncResult:
        """Make the stored chunks of ``repo_id`` equal to ``chunks``, embedding only new ones.

        New chunks go shortest first in steps of ``step``: embedded, written, counted on
        ``progress``. A step that fails leaves the earlier ones stored, and the retry's set
        difference skips them.
        """
        for c in chunks:
            if c.repo_id != repo_id:
                raise ValueError(f"chunk {c.xid} belongs to {c.repo_id}, not {repo_id}")
        embedder = embedder or self.embedder
        progress = progress or Progress()
        progress.set_phase(f"checking which of {len(chunks)} chunks are stored")
        self.ensure_collection()
        by_id = {c.object_id(embedder.name): c for c in chunks}
        stored = self.stored_ids(by_id)
        new = sorted(((u, c) for u, c in by_id.items() if u not in stored), key=lambda uc: len(uc[1].text))
        cut = getattr(embedder, "cut", None)  # an OnnxEmbedder reads tests shorter: they cost less

        def weight(c: Chunk) -> int:
            return weight_of(c.text, cut.tokens_for(c)) if cut is not None else weight_of(c.text)

        progress.start(len(new), sum(weight(c) for _, c in new), skipped=len(by_id) - len(new))

        def store(part: list[tuple[uuid.UUID, Chunk]], vectors: list[list[float]]) -> int:
            written = self.upsert([c for _, c in part], vectors, ids=[u for u, _ in part])
            progress.advance(len(part), sum(weight(c) for _, c in part))
            return written

        embedded = inserted = 0
        stored: Future[int] | None = None
        # One step is written (and indexed by Weaviate) while the next is embedded: writing
        # sqlalchemy's 31k chunks alone takes a minute of wall time that the model would
        # otherwise wait through. Steps are still stored in order, one at a time; a failed
        # embedding waits for the step being written, so finished work is kept for the retry.
        with ThreadPoolExecutor(1, thread_name_prefix="weaviate-write") as writer:
            for start in range(0, len(new), step):
                part = new[start:start + step]
                vectors = embed_chunks(embedder, [c for _, c in part])
                embedded += len(vectors)
                if stored is not None:
                    inserted += stored.result()
                stored = writer.submit(store, part, vectors)
            if stored is not None:
                inserted += stored.result()
        progress.set_phase(f"deleting chunks of {repo_id} this commit no longer has")
        deleted = self.delete_stale(repo_id, by_id)
        progress.set_phase(f"done: {embedded} embedded, {len(by_id) - len(new)} unchanged, {deleted} deleted")
        return SyncResult(chunks=len(by_id), unchanged=len(by_id) - len(new), embedded=embedded,
                          inserted=inserted, deleted=deleted)

    # -- reads ----------------------------------------------------------------------------------
    def search(self, query: str, *, repo_id: str | None = None, language: str | Sequence[str] | None = None,
               node_type: str | Sequence[str] | None = None, limit: int = 10, mode: str = "hybrid",
               alpha: float = HYBRID_ALPHA, fusion: str = "relative", penalty: float = TEST_PENALTY,
               vector: Sequence[float] | None = None) -> list[SearchHit]:
        """Best graph nodes for a natural-language ``query``, one hit per node, best first.

        ``mode`` is ``hybrid`` (BM25 and vector scores fused; ``alpha`` 1.0 = vector only;
        ``fusion`` ``relative`` (score-based, measured better here) or ``ranked``), ``bm25`` or
        ``vector``. Filters are exact matches on repository, language and node type. Tests and
        generated files are demoted by ``penalty`` unless the query asks for tests (1.0 keeps
        the server's order); ``vector`` is the query's embedding when the caller has it.
        """
        check_mode(mode)
        if limit <= 0 or not query.strip():
            return []
        filters = build_filters(repo_id, language, node_type)
        # A node with several chunks takes several places before dedup, and demoted tests make
        # room for definitions from further down: fetch a deeper page than asked.
        fetch = max(limit * 3, limit + 10)
        q = self.collection.query
        if mode == "bm25":
            res = q.bm25(query=query, query_properties=BM25_PROPERTIES, filters=filters, limit=fetch,
                         return_properties=RETURNED, return_metadata=MetadataQuery(score=True))
        else:
            vector = list(vector) if vector is not None else self.embedder.embed([query])[0]
            if mode == "vector":
                res = q.near_vector(near_vector=vector, filters=filters, limit=fetch,
                                    return_properties=RETURNED, return_metadata=MetadataQuery(distance=True))
            else:
                fusion_type = HybridFusion.RANKED if fusion == "ranked" else HybridFusion.RELATIVE_SCORE
                res = q.hybrid(query=query, vector=vector, alpha=alpha, query_properties=BM25_PROPERTIES,
                               fusion_type=fusion_type,
                               filters=filters, limit=fetch, return_properties=RETURNED,
                               return_metadata=MetadataQuery(score=True))
        hits = []
        for o in res.objects:
            p = o.properties
            if mode == "vector":
                score = 1.0 - float(o.metadata.distance or 0.0)
            else:
                score = float(o.metadata.score or 0.0)
            hits.append(SearchHit(xid=str(p["xid"]), score=score, snippet=str(p.get("snippet") or ""),
                                  name=str(p.get("name") or ""), node_type=str(p["node_type"]),
                                  language=str(p.get("language") or ""), repo_id=str(p["repo_id"]),
                                  path=str(p.get("path") or ""), part=int(p.get("part") or 0)))
        if penalty == 1.0:
            return best_per_node(hits, limit)
        return prefer_definitions(hits, query, limit, penalty)


def search(query: str, *, repo_id: str | None = None, language: str | Sequence[str] | None = None,
           node_type: str | Sequence[str] | None = None, limit: int = 10, mode: str = "hybrid",
           conn_id: str = "freshpoc_weaviate", collection: str = DEFAULT_COLLECTION,
           embedder: Embedder | None = None) -> list[SearchHit]:
    """One-shot search for callers without a hook of their own (the query API route)."""
    with CodeChunkHook(conn_id=conn_id, collection=collection, embedder=embedder) as hook:
        if not hook.conn.collections.exists(collection):
            return []
        return hook.search(query, repo_id=repo_id, language=language, node_type=node_type, limit=limit,
                           mode=mode)
