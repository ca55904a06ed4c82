"""DgraphHook: pydgraph behind an Airflow connection.

Every query and mutation goes through this hook so that three rules hold everywhere: DQL text
is constant and user values travel only as variables; aborted transactions (optimistic
concurrency conflicts between concurrent writers) are retried with backoff, and so is work that an
unreachable alpha refused before anything was committed (another alpha of a cluster takes the
next attempt); and the gRPC channel is closed when the hook is.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.sdk.bases.hook import BaseHook

T = TypeVar("T")


def unreachable(error: BaseException) -> bool:
    """True when an alpha could not be reached (gRPC ``UNAVAILABLE``, or pydgraph's
    ``ConnectionError`` for an unhealthy channel): the request did not run there. With one stub
    per alpha, a new transaction picks a stub at random, so a retry reaches a live alpha of the
    group while the dead one stays down (issue 18's alpha-loss drill)."""
    import grpc
    import pydgraph

    if isinstance(error, pydgraph.errors.ConnectionError):
        return True
    code = getattr(error, "code", None)
    return callable(code) and isinstance(error, grpc.RpcError) and code() == grpc.StatusCode.UNAVAILABLE


def alpha_targets(host: str | None, port: int | None, extra: dict[str, Any]) -> list[str]:
    """The alphas' gRPC addresses: extra ``alphas`` (``"h1:9080,h2:9080"`` or a list) when a
    cluster lists them, else the connection's host:port. pydgraph spreads requests over one stub
    per alpha, so a lost alpha is one stub of several, not the whole client."""
    listed = extra.get("alphas")
    if isinstance(listed, str):
        listed = listed.split(",")
    targets = [str(a).strip() for a in listed or [] if str(a).strip()]
    return targets or [f"{host or '127.0.0.1'}:{port or 9080}"]


class DgraphHook(BaseHook):
    """Talk to Dgraph alphas over gRPC.

    :param dgraph_conn_id: Airflow connection of type ``dgraph`` (host/port of the alpha's gRPC
        endpoint; login/password when ACLs are on; extras ``tls``, ``namespace``, ``timeout``, and
        ``alphas``: every alpha of a cluster, ``"h1:9080,h2:9080,h3:9080"``, used instead of
        host/port).
    :param max_retries: attempts for a transaction aborted by a conflicting writer.
    """

    conn_name_attr = "dgraph_conn_id"
    default_conn_name = "freshpoc_dgraph"
    conn_type = "dgraph"
    hook_name = "Dgraph"

    def __init__(self, dgraph_conn_id: str = default_conn_name, max_retries: int = 8) -> None:
        super().__init__()
        self.dgraph_conn_id = dgraph_conn_id
        self.max_retries = max_retries
        # Aborted-and-retried transactions since the hook was made (the write stage's metric).
        self.retries = 0
        self._client: Any = None
        self._stubs: list[Any] = []

    def get_conn(self) -> Any:
        """Return a connected ``pydgraph.DgraphClient`` (created once per hook)."""
        if self._client is not None:
            return self._client
        import grpc
        import pydgraph

        conn = self.get_connection(self.dgraph_conn_id)
        extra = conn.extra_dejson
        credentials = grpc.ssl_channel_credentials() if extra.get("tls") else None
        options = [("grpc.max_send_message_length", 64 * 1024 * 1024),
                   ("grpc.max_receive_message_length", 256 * 1024 * 1024)]
        self._stubs = [pydgraph.DgraphClientStub(target, credentials=credentials, options=options)
                       for target in alpha_targets(conn.host, conn.port, extra)]
        client = pydgraph.DgraphClient(*self._stubs)
        if conn.login:
            client.login_into_namespace(conn.login, conn.password or "", int(extra.get("namespace", 0)))
        self._client = client
        self.timeout = int(extra.get("timeout", 60))
        return client

    def close(self) -> None:
        for stub in self._stubs:
            stub.close()
        self._stubs, self._client = [], None

    def __enter__(self) -> DgraphHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Schema ----------------------------------------------------------------------------------
    def alter_schema(self, schema: str) -> None:
        """Apply a DQL schema (types, predicates, indexes). Idempotent in Dgraph, so repeated
        when Dgraph asks to retry: an alter that changes indexes is refused while a transaction
        is pending ("Pending transactions found. Please retry operation"), and the alpha aborts
        that transaction as it refuses — a transaction left open by a crashed client or a lost
        alpha made the cluster profile's first ``migrate`` of a new ontology fail once (CI)."""
        import pydgraph
        from pydgraph.errors import RetriableError

        delay = 0.2
        for attempt in range(1, self.max_retries + 1):
            try:
                self.get_conn().alter(pydgraph.Operation(schema=schema))
                return
            except Exception as err:
                if not (isinstance(err, RetriableError) or unreachable(err)) or attempt == self.max_retries:
                    raise
                delay = self._back_off(delay, "Dgraph asked to retry the schema change (attempt %d)", attempt)

    def drop_all(self) -> None:
        """Delete all data and schema. For tests and benchmarks on a throwaway database."""
        import pydgraph

        self.get_conn().alter(pydgraph.Operation(drop_all=True))

    # Reads -----------------------------------------------------------------------------------
    def query(self, dql: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a read-only query; ``variables`` keys start with ``$`` as DQL declares them.

        Not ``best_effort``: such reads may miss a commit made just before, and callers read
        their own writes (the writer's verification, tests, the API after a pipeline run).
        """
        client = self.get_conn()
        delay = 0.05
        for attempt in range(1, self.max_retries + 1):
            txn = client.txn(read_only=True)
            try:
                resp = txn.query(dql, variables={k: str(v) for k, v in (variables or {}).items()},
                                 timeout=self.timeout)
                return json.loads(resp.json)
            except Exception as err:  # a read is safe to repeat: only an unreachable alpha is
                if not unreachable(err) or attempt == self.max_retries:
                    raise
                delay = self._back_off(delay, "Dgraph alpha unreachable on a read (attempt %d), retrying",
                                       attempt)
            finally:
                txn.discard()
        raise AssertionError("unreachable")

    def _back_off(self, delay: float, message: str, attempt: int, level: int = logging.WARNING) -> float:
        """Count the retry, log it, sleep ``delay`` plus jitter (concurrent writers that
        conflicted must not retry in step); the next, doubled delay, at most 2 s."""
        self.log.log(level, message, attempt)
        self.retries += 1
        time.sleep(delay + random.uniform(0, delay))
        return min(delay * 2, 2.0)

    # Writes ----------------------------------------------------------------------------------
    def run_in_txn(self, work: Callable[[Any], T]) -> T:
        """Run ``work(txn)`` and commit, retrying the whole unit when Dgraph aborts it, or when
        an unreachable alpha refuses the work before the commit (nothing of it can have been
        committed: the transaction's mutations are pending until ``commit``). An alpha lost
        during the commit itself is not retried: the outcome is unknown, and a unit that makes
        new nodes (blank uids) would make them twice; the error goes to the caller (the writer's
        dirty mark makes its next run read everything again)."""
        import pydgraph

        client = self.get_conn()
        delay = 0.05
        for attempt in range(1, self.max_retries + 1):
            txn = client.txn()
            try:
                try:
                    result = work(txn)
                except Exception as err:
                    if not unreachable(err) or attempt == self.max_retries:
                        raise
                    delay = self._back_off(delay, "Dgraph alpha unreachable (attempt %d), retrying", attempt)
                    continue
                txn.commit(timeout=self.timeout)
                return result
            except pydgraph.errors.AbortedError:
                if attempt == self.max_retries:
                    raise
                delay = self._back_off(delay, "Dgraph transaction aborted (attempt %d), retrying", attempt,
                                       logging.INFO)  # an ordinary conflict between writers
            finally:
                txn.discard()
        raise AssertionError("unreachable")

    def upsert(self, query: str, mutations: list[dict[str, Any]],
               variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One upsert block: ``query`` binds variables; each mutation is a dict with optional
        ``set_json``/``del_json`` (objects or lists) and ``cond`` (``@if(...)``)."""
        import pydgraph  # noqa: F401  (import check: a clear error when the client is missing)

        def work(txn: Any) -> dict[str, Any]:
            muts = [txn.create_mutation(set_obj=m.get("set_json"), del_obj=m.get("del_json"),
                                        cond=m.get("cond")) for m in mutations]
            request = txn.create_request(query=query, mutations=muts,
                                         variables={k: str(v) for k, v in (variables or {}).items()})
            resp = txn.do_request(request, timeout=self.timeout)
            return {"uids": dict(resp.uids), "json": json.loads(resp.json or b"{}")}

        return self.run_in_txn(work)

    def mutate(self, set_json: Any = None, del_json: Any = None) -> dict[str, str]:
        """One plain mutation (deletions first, then sets) in one transaction; returns the uids
        Dgraph assigned to blank nodes (``_:name`` -> ``{"name": uid}``)."""

        def work(txn: Any) -> dict[str, str]:
            uids: dict[str, str] = {}
            if del_json:
                txn.mutate(del_obj=del_json, timeout=self.timeout)
            if set_json:
                uids.update(txn.mutate(set_obj=set_json, timeout=self.timeout).uids)
            return uids

        return self.run_in_txn(work)

    def health(self) -> str:
        return self.get_conn().check_version()
