"""The pipeline's operators: ingest, mine, analyse, write graph, report.

Each is thin: it resolves hooks, calls the pure core, stages its artifact in MinIO under the
names of ARCHITECTURE, publishes one Kafka event per repo+commit, and returns a small dict
(URIs and counts) as its XCom. Every operator takes the previous stage's XCom (``ingest``) as
its input, so any stage can be rerun alone from the Airflow UI or reused in another DAG.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, SkipMixin
from airflow.sdk.exceptions import AirflowSkipException

from freshpoc_tasks.contracts.locations import cache_root
from freshpoc_tasks.operators import metrics
from freshpoc_tasks.operators.links import StagedArtifactLink

CONN_DEFAULTS = {
    "kafka_conn_id": "freshpoc_kafka",
    "s3_conn_id": "freshpoc_s3",
    "postgres_conn_id": "freshpoc_postgres",
    "dgraph_conn_id": "freshpoc_dgraph",
}


def _skip_if_unchanged(ingest: dict[str, Any]) -> None:
    if ingest.get("skip"):
        raise AirflowSkipException(f"{ingest.get('repo_id')}@{str(ingest.get('commit'))[:12]} "
                                   "already processed with the same versions")


def _run_id(context: Any) -> str:
    return str(context["run_id"])


def _publish(stage: str, ingest: dict[str, Any], run_id: str, uri: str | None,
             counts: dict[str, int], kafka_conn_id: str) -> None:
    from freshpoc_tasks.contracts.events import STAGE_TOPICS, StageEvent
    from freshpoc_tasks.hooks.events import EventPublisher

    event = StageEvent.for_stage(stage, repo_id=ingest["repo_id"], commit=ingest["commit"],
                                 run_id=run_id, artifact_uri=uri,
                                 counts={k: int(v) for k, v in counts.items()})
    EventPublisher(kafka_conn_id).publish(STAGE_TOPICS[stage], event)
    metrics.event_produced(ingest["repo_id"], stage, STAGE_TOPICS[stage])


def _open_mirror(ingest: dict[str, Any], s3_conn_id: str) -> Any:
    """The repository's bare mirror, from the mirror cache, or restored from its snapshot."""
    from freshpoc_tasks.mining.access import Repository, open_repository

    try:
        return open_repository(ingest["location"], cache_root() / "mirrors", fetch=False)
    except Exception:
        # The source may be gone or unreachable: the staged snapshot is enough to go on.
        from freshpoc_tasks.hooks.staging import StagingHook

        dest = cache_root() / "snapshots"
        dest.mkdir(parents=True, exist_ok=True)
        bundle = StagingHook(s3_conn_id).get_file(ingest["snapshot_uri"], dest)
        restored = open_repository(str(bundle), cache_root() / "mirrors", fetch=False)
        return Repository(location=ingest["location"], repo_id=ingest["repo_id"],
                          git_dir=restored.git_dir)


def fingerprint() -> str:
    """Everything whose change means a commit must be processed again."""
    from freshpoc_tasks import __version__
    from freshpoc_tasks.analysis.stage import versions

    return json.dumps({"freshpoc": __version__, **versions()}, sort_keys=True)


def resolve_spec(spec: dict[str, Any], registry: Any) -> tuple[Any, dict[str, Any]]:
    """Open (clone or fetch) a repository and resolve its spec to one commit."""
    from freshpoc_tasks.mining.access import open_repository

    # "offline": reprocessing works from what was already fetched, never from the source.
    repo = open_repository(spec["repo"], cache_root() / "mirrors", fetch=not spec.get("offline"))
    if spec.get("ref"):
        commit = repo.resolve(spec["ref"])
    elif spec.get("as_of"):
        commit = repo.resolve_as_of(datetime.fromisoformat(str(spec["as_of"])))
    else:
        commit = repo.resolve("HEAD")
    registry.register(repo.repo_id, repo.location)
    return repo, {
        "repo_id": repo.repo_id, "location": repo.location, "commit": commit,
        "committed_at": repo.commit_time(commit).astimezone(UTC).isoformat(),
        "fingerprint": fingerprint(),
    }


def failure_reason(exc: BaseException) -> str:
    """One line (bounded) saying why a repository could not be processed."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}"[:2000]


def is_permanent(exc: BaseException) -> bool:
    """Failures no retry can fix: a refused location or ref. A clone or fetch error (network,
    a server restarting) is worth the task's retries."""
    from freshpoc_tasks.mining.access import RefNotFoundError, UnsafeLocationError

    return isinstance(exc, UnsafeLocationError | RefNotFoundError)


class RepositoryUnavailable(RuntimeError):
    """A requested repository could not be opened or resolved; the message names it."""


def plan_repositories(specs: list[dict[str, Any]], postgres_conn_id: str = "freshpoc_postgres",
                      dead_letters: Any = None) -> list[dict[str, Any]]:
    """The specs that need work, each pinned to its resolved commit.

    Runs before the per-repository groups so an unchanged repository costs no task at all; a
    repository that cannot be resolved (bad URL, unknown ref) is reported, not fatal to others.
    """
    from freshpoc_tasks.hooks.registry import RepoRegistry

    registry = RepoRegistry(postgres_conn_id)
    todo = []
    for spec in specs:
        try:
            _repo, out = resolve_spec(spec, registry)
        except Exception as exc:
            if dead_letters is None:
                raise
            dead_letters(spec, exc)
            # Kept, marked: its ingest task tries once more and fails naming the repository
            # and the reason, so the run ends failed instead of silently green.
            todo.append({**spec, "error": failure_reason(exc)})
            continue
        if spec.get("force") or not registry.is_processed(out["repo_id"], out["commit"],
                                                          out["fingerprint"]):
            todo.append({**spec, "ref": out["commit"], "as_of": None})
    return todo


def plan_reprocessing(postgres_conn_id: str = "freshpoc_postgres") -> list[dict[str, Any]]:
    """Repositories to re-analyse and rewrite: marked by an approved ontology proposal, or last
    processed with other analyzer/ontology versions. Each is pinned to its last commit and
    read offline (mirror cache or staged snapshot), never fetched again."""
    from freshpoc_tasks.hooks.ontology_ledger import OntologyLedgerHook
    from freshpoc_tasks.hooks.registry import RepoRegistry

    registry = RepoRegistry(postgres_conn_id)
    ledger = OntologyLedgerHook(postgres_conn_id)
    ledger.ensure_tables()
    marked = {m["repo_id"] for m in ledger.reprocess_marks()}
    current = fingerprint()
    todo = []
    for repo in registry.repositories():
        if not repo["last_commit"]:
            continue
        stale = not registry.is_processed(repo["repo_id"], repo["last_commit"], current)
        if repo["repo_id"] in marked or stale:
            todo.append({"repo": repo["location"], "ref": repo["last_commit"], "as_of": None,
                         "force": True, "offline": True})
    return todo


class IngestOperator(BaseOperator, SkipMixin):
    """Resolve a repository to one commit, stage a read-only snapshot, decide whether to go on.

    The commit is ``ref`` when given, else the commit current at ``as_of`` (a backfill passes
    the run's logical date), else the default branch's head. When that commit was already
    processed with the same analyzer and ontology versions, every downstream task of this
    repository is skipped — unless ``force`` is set.

    :param repo: URL (https, ssh, git) or absolute local path of the repository.
    :param ref: branch, tag or sha (optional).
    :param as_of: ISO timestamp; the commit current at that time is processed (optional).
    :param force: process even if nothing changed.
    :param s3_conn_id: connection of the S3-compatible store (default ``freshpoc_s3``).
    :param postgres_conn_id: connection of the repo registry (default ``freshpoc_postgres``).
    :param kafka_conn_id: connection for stage events (default ``freshpoc_kafka``).
    """

    template_fields: Sequence[str] = ("repo", "ref", "as_of", "force")
    ui_color = "#d9ead3"
    operator_extra_links = (StagedArtifactLink(),)
    artifact_uri: str | None = None

    def __init__(self, *, repo: Any, ref: str | None = None, as_of: str | None = None,
                 force: Any = False, s3_conn_id: str = CONN_DEFAULTS["s3_conn_id"],
                 postgres_conn_id: str = CONN_DEFAULTS["postgres_conn_id"],
                 kafka_conn_id: str = CONN_DEFAULTS["kafka_conn_id"], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repo = repo
        self.ref = ref
        self.as_of = as_of
        self.force = force
        self.s3_conn_id = s3_conn_id
        self.postgres_conn_id = postgres_conn_id
        self.kafka_conn_id = kafka_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from freshpoc_tasks.hooks.registry import RepoRegistry
        from freshpoc_tasks.hooks.staging import StagingHook, snapshot_key
        from freshpoc_tasks.mining.access import run_git

        timer = metrics.StageTimer()
        spec = self.repo if isinstance(self.repo, dict) else {"repo": self.repo}
        spec = {"ref": self.ref, "as_of": self.as_of, **{k: v for k, v in spec.items() if v}}
        force = bool(spec.get("force")) or self.force in (True, "True", "true", "1")
        registry = RepoRegistry(self.postgres_conn_id)
        try:
            repo, out = resolve_spec(spec, registry)
        except Exception as exc:
            # Visible, never skipped: this repository's tasks fail and so does the run.
            self.log.error("%s cannot be processed: %s", spec.get("repo"), failure_reason(exc))
            message = f"repository {spec.get('repo')!r} cannot be processed: {failure_reason(exc)}"
            if is_permanent(exc):
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(message) from exc
            raise RepositoryUnavailable(message) from exc
        unchanged = registry.is_processed(out["repo_id"], out["commit"], out["fingerprint"])
        commit = out["commit"]
        self.log.info("%s resolved to %s (%s)", repo.repo_id, commit[:12],
                      "unchanged, skipping" if unchanged and not force else "processing")
        staging = StagingHook(self.s3_conn_id)
        key = snapshot_key(repo.repo_id, commit)
        out["snapshot_uri"] = f"s3://{staging.bucket}/{key}"
        if unchanged and not force:
            out["skip"] = True
            # Skip this repository's downstream tasks without starting them.
            self.skip(ti=context["ti"], tasks=self.get_flat_relatives(upstream=False))
            return out
        out["skip"] = False
        source_key = snapshot_key(repo.repo_id, commit, "tar.gz")
        out["source_uri"] = f"s3://{staging.bucket}/{source_key}"
        if not staging.exists(out["source_uri"]):
            with tempfile.TemporaryDirectory() as tmp:
                # The tree at the commit, as files (what the embed stage chunks).
                archive = Path(tmp) / "source.tar.gz"
                run_git(["archive", "--format=tar.gz", "-o", str(archive), commit], repo.git_dir)
                staging.put_file(archive, source_key)
        if not staging.exists(out["snapshot_uri"]):
            with tempfile.TemporaryDirectory() as tmp:
                bundle = Path(tmp) / "snapshot.bundle"
                # A git bundle is a read-only, self-contained snapshot: history and tree at
                # the commit, restorable with a plain clone (what reprocessing does).
                ref_name = f"refs/freshpoc/snapshots/{commit}"  # a bundle needs a ref, not a sha
                run_git(["update-ref", ref_name, commit], repo.git_dir)
                run_git(["bundle", "create", str(bundle), ref_name], repo.git_dir)
                staging.put_file(bundle, key)
        self.artifact_uri = out["source_uri"]
        _publish("ingest", out, _run_id(context), out["snapshot_uri"], {}, self.kafka_conn_id)
        metrics.stage_done(out["repo_id"], "ingest", timer.seconds)
        return out


class _StageOperator(BaseOperator):
    """Common wiring of the stages after ingest."""

    template_fields: Sequence[str] = ("ingest",)
    operator_extra_links = (StagedArtifactLink(),)
    artifact_uri: str | None = None

    def __init__(self, *, ingest: Any, s3_conn_id: str = CONN_DEFAULTS["s3_conn_id"],
                 kafka_conn_id: str = CONN_DEFAULTS["kafka_conn_id"], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ingest = ingest
        self.s3_conn_id = s3_conn_id
        self.kafka_conn_id = kafka_conn_id

    def _ingest(self) -> dict[str, Any]:
        ingest = self.ingest
        if isinstance(ingest, str):  # rendered from a template
            ingest = json.loads(ingest)
        _skip_if_unchanged(ingest)
        return ingest

    def _stage(self, ingest: dict[str, Any], path: Path, stage: str) -> str:
        from freshpoc_tasks.hooks.staging import StagingHook, staging_key

        self.artifact_uri = StagingHook(self.s3_conn_id).put_file(
            path, staging_key(ingest["repo_id"], ingest["commit"], stage))
        return self.artifact_uri


class MineOperator(_StageOperator):
    """File inventory and git history of the ingested commit → ``staging/…/mine.jsonl.gz``.

    :param ingest: the ingest task's XCom (``IngestOperator(...).output``).
    :param renames: ``follow`` (a file's history continues across renames; splits are not
        followed) or ``off`` (each path counts its own changes, as ``git log --numstat
        --no-renames``). Templated; by default the DAG run's ``renames`` param, else ``follow``.
    :param bots: ``exclude`` (bot commits flagged, kept out of every aggregate) or ``include``.
        Templated; by default the DAG run's ``bots`` param, else ``exclude``.
        Both change the numbers but not the commit's processed-state fingerprint: rerun a
        processed commit with other values using ``force``.
    """

    template_fields: Sequence[str] = ("ingest", "renames", "bots")
    ui_color = "#fff2cc"

    def __init__(self, *, renames: str = "{{ params.get('renames') or 'follow' }}",
                 bots: str = "{{ params.get('bots') or 'exclude' }}", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.renames = renames
        self.bots = bots

    def execute(self, context: Any) -> dict[str, Any]:
        from freshpoc_tasks.contracts.mining import MiningOptions
        from freshpoc_tasks.mining.pipeline import mine_repository

        if self.renames not in ("follow", "off") or self.bots not in ("exclude", "include"):
            raise ValueError(f"renames must be follow|off and bots exclude|include, got "
                             f"{self.renames!r} and {self.bots!r}")
        options = MiningOptions(detect_renames=self.renames == "follow", bots=self.bots)
        timer = metrics.StageTimer()
        ingest = self._ingest()
        repo = _open_mirror(ingest, self.s3_conn_id)
        skipped = _SkipTally()
        with tempfile.TemporaryDirectory() as tmp:
            result = mine_repository(str(repo.git_dir), tmp, cache_dir=cache_root() / "mine-mirrors",
                                     ref=ingest["commit"], options=options, keep=skipped,
                                     progress=lambda n: self.log.info("mined %d commits", n))
            uri = self._stage(ingest, result.artifact, "mine")
        _publish("mine", ingest, _run_id(context), uri, result.counts, self.kafka_conn_id)
        metrics.emit_mine(ingest["repo_id"], timer.seconds, result.counts, skipped.by_reason)
        return {"uri": uri, "counts": result.counts}


class _SkipTally(list):
    """Given to ``mine_repository(keep=...)``: sees every mined record as it is written and keeps
    only the number of skipped files per reason, not the records (which can be millions)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_reason: dict[str, int] = {}

    def append(self, rec: Any) -> None:
        reason = getattr(rec, "skipped_reason", None)
        if reason:
            self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


class AnalyseOperator(_StageOperator):
    """Python, SQL, dbt, Pulumi and Airflow analysis → ``staging/…/analyse.jsonl.gz``.

    A broken file becomes a diagnostic in the delta; it never fails the task.

    :param ingest: the ingest task's XCom.
    """

    ui_color = "#cfe2f3"

    def execute(self, context: Any) -> dict[str, Any]:
        import logging

        from freshpoc_tasks.analysis.stage import analyse_commit

        logging.getLogger("sqlglot").setLevel(logging.ERROR)
        timer = metrics.StageTimer()
        ingest = self._ingest()
        repo = _open_mirror(ingest, self.s3_conn_id)
        with tempfile.TemporaryDirectory() as tmp:
            result = analyse_commit(repo, ingest["commit"], tmp, repo_id=ingest["repo_id"],
                                    result_cache=cache_root() / "analysis")
            uri = self._stage(ingest, result.artifact, "analyse")
        _publish("analyse", ingest, _run_id(context), uri, result.counts, self.kafka_conn_id)
        metrics.emit_analyse(ingest["repo_id"], timer.seconds, result.counts,
                             getattr(result, "by_analyzer", None))
        return {"uri": uri, "counts": result.counts}


class WriteGraphOperator(_StageOperator):
    """Merge the mining and analysis deltas and write them into Dgraph, versioned by commit.

    Stages the per-commit graph diff as ``staging/…/graph_diff.jsonl.gz`` and records the commit
    in the repo registry, which is what makes the next unchanged run skip.

    :param mine: the mine task's XCom; :param analyse: the analyse task's XCom.
    :param dgraph_conn_id: Dgraph connection (default ``freshpoc_dgraph``).
    :param postgres_conn_id: repo registry connection (default ``freshpoc_postgres``).
    """

    template_fields: Sequence[str] = ("ingest", "mine", "analyse")
    ui_color = "#ead1dc"

    def __init__(self, *, mine: Any, analyse: Any,
                 dgraph_conn_id: str = CONN_DEFAULTS["dgraph_conn_id"],
                 postgres_conn_id: str = CONN_DEFAULTS["postgres_conn_id"], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mine = mine
        self.analyse = analyse
        self.dgraph_conn_id = dgraph_conn_id
        self.postgres_conn_id = postgres_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from freshpoc_tasks.contracts.base import read_jsonl, write_jsonl
        from freshpoc_tasks.contracts.graph import GRAPH_RECORDS, GraphDelta
        from freshpoc_tasks.contracts.mining import MINING_RECORDS
        from freshpoc_tasks.graph.from_mining import merge_deltas, mining_delta
        from freshpoc_tasks.graph.ontology import schema_sha
        from freshpoc_tasks.graph.writer import GraphWriter
        from freshpoc_tasks.hooks.dgraph import DgraphHook
        from freshpoc_tasks.hooks.ontology_ledger import OntologyLedgerHook
        from freshpoc_tasks.hooks.registry import RepoLock
        from freshpoc_tasks.hooks.staging import StagingHook

        timer = metrics.StageTimer()
        ingest = self._ingest()
        staging = StagingHook(self.s3_conn_id)
        committed_at = datetime.fromisoformat(ingest["committed_at"])
        with tempfile.TemporaryDirectory() as tmp:
            mine_path = _download(staging, self.mine["uri"], Path(tmp) / "mine")
            analyse_path = _download(staging, self.analyse["uri"], Path(tmp) / "analyse")
            mined = mining_delta(read_jsonl(mine_path, MINING_RECORDS), ingest["repo_id"],
                                 ingest["commit"])
            analysed = GraphDelta.from_records(read_jsonl(analyse_path, GRAPH_RECORDS))
            delta = merge_deltas(mined, analysed)
            with RepoLock(ingest["repo_id"], self.postgres_conn_id), DgraphHook(self.dgraph_conn_id) as hook:
                writer = GraphWriter(hook)
                schema = writer.ensure_schema()
                result = writer.apply(delta, committed_at=committed_at)
                retries = int(getattr(hook, "retries", 0))
            # The migration ledger, and types the ontology does not know, wait for approval.
            ledger = OntologyLedgerHook(self.postgres_conn_id)
            ledger.ensure_tables()
            ledger.record_applied(writer.onto.version, schema_sha(schema), schema, writer.onto.source)
            if delta.proposed:
                ledger.propose(ingest["repo_id"], delta.proposed)
            diff_path = Path(tmp) / "graph_diff.jsonl.gz"
            write_jsonl(diff_path, [result.diff])
            uri = self._stage(ingest, diff_path, "graph_diff")
        counts = {k: int(v) for k, v in result.counts.items() if isinstance(v, int)}
        _publish("graph", ingest, _run_id(context), uri, counts, self.kafka_conn_id)
        metrics.emit_graph(ingest["repo_id"], timer.seconds, counts, result.counts_by_file,
                           metrics.language_by_path(delta.nodes), retries=retries,
                           transactions=result.transactions, timings=result.timings)
        return {"uri": uri, "counts": counts}


def _download(staging: Any, uri: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    return staging.get_file(uri, dest)


class ReportOperator(_StageOperator):
    """Repository report and per-commit impact report, Markdown + Mermaid and HTML, into
    ``reports/{repo_id}/{commit}/report.{md,html}`` and ``impact.{md,html}``.

    The figures are the commit's stored aggregates (what the graph writer computed), so the
    report says what the query API says. Its XCom carries the trend ``figures`` that
    :class:`RecordOperator` stores. With ``record_processed`` (the default, for DAGs that end
    with the report) it also records the commit as processed itself; a DAG whose embed task runs
    beside the report sets it False and ends with a ``RecordOperator`` after both.

    :param mine: the mine task's XCom; :param analyse: the analyse task's XCom.
    :param graph: the write_graph task's XCom (its diff drives the impact report).
    :param dgraph_conn_id: Dgraph connection, for the aggregates and what depends on the changed nodes.
    :param postgres_conn_id: repo registry connection (default ``freshpoc_postgres``).
    :param record_processed: record the commit as processed at the end (default True).
    """

    template_fields: Sequence[str] = ("ingest", "mine", "analyse", "graph")
    ui_color = "#f4cccc"
    MAX_IMPACT_QUERIES = 60  # changed nodes whose dependents are looked up

    def __init__(self, *, mine: Any, analyse: Any, graph: Any = None,
                 dgraph_conn_id: str = CONN_DEFAULTS["dgraph_conn_id"],
                 postgres_conn_id: str = CONN_DEFAULTS["postgres_conn_id"],
                 record_processed: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mine = mine
        self.analyse = analyse
        self.graph = graph
        self.dgraph_conn_id = dgraph_conn_id
        self.postgres_conn_id = postgres_conn_id
        self.record_processed = record_processed

    def execute(self, context: Any) -> dict[str, Any]:
        from freshpoc_tasks.contracts.base import read_jsonl
        from freshpoc_tasks.contracts.graph import GRAPH_RECORDS, GraphDelta
        from freshpoc_tasks.contracts.mining import MINING_RECORDS
        from freshpoc_tasks.hooks.registry import RepoRegistry
        from freshpoc_tasks.hooks.staging import StagingHook, report_key
        from freshpoc_tasks.reporting.from_stages import report_inputs, repository_report, trend_points
        from freshpoc_tasks.reporting.reports import render_impact_report, render_repository_report

        timer = metrics.StageTimer()
        ingest = self._ingest()
        staging = StagingHook(self.s3_conn_id)
        registry = RepoRegistry(self.postgres_conn_id)
        committed_at = datetime.fromisoformat(ingest["committed_at"])
        # Earlier processed commits (backfills) make the trend charts.
        history = [h for h in registry.snapshots(ingest["repo_id"]) if h["commit"] != ingest["commit"]]
        before = [h for h in history if h["committed_at"] and h["committed_at"] < committed_at]
        with tempfile.TemporaryDirectory() as tmp:
            mine_path = _download(staging, self.mine["uri"], Path(tmp) / "mine")
            analyse_path = _download(staging, self.analyse["uri"], Path(tmp) / "analyse")
            build = metrics.StageTimer()  # from the staged inputs to both rendered reports
            delta = GraphDelta.from_records(read_jsonl(analyse_path, GRAPH_RECORDS))
            mined = report_inputs(read_jsonl(mine_path, MINING_RECORDS), delta,
                                  since=before[-1]["committed_at"] if before else None)
            here = {"commit": ingest["commit"], "committed_at": committed_at, "counts": mined.figures}
            trends = trend_points(sorted([*history, here], key=lambda h: h["committed_at"]))
            report = repository_report(mined.records, delta, trends=trends,
                                       aggregates=self._aggregates(ingest))
            figures, owners = mined.figures, mined.owners
            impact = self._impact(staging, Path(tmp), owners) if self.graph else None
        # The HTML loads Mermaid from the query API's own route, never from a CDN.
        mermaid = "/freshpoc/assets/mermaid.min.js"
        repo_id, commit = ingest["repo_id"], ingest["commit"]
        markdown, html = render_repository_report(report, mermaid_src=mermaid)
        md_uri = staging.put_text(markdown, report_key(repo_id, commit, "md"))
        html_uri = staging.put_text(html, report_key(repo_id, commit, "html"))
        out = {"uri": md_uri, "html_uri": html_uri, "figures": dict(figures),
               "counts": {"hotspots": len(report.hotspots), "parse_failures": len(report.parse_failures)}}
        if impact is not None:
            impact_md, impact_html = render_impact_report(impact, mermaid_src=mermaid)
            out["impact_uri"] = staging.put_text(impact_md, report_key(repo_id, commit, "md", "impact"))
            staging.put_text(impact_html, report_key(repo_id, commit, "html", "impact"))
            out["counts"]["affected"] = len(impact.affected)
        build_seconds = build.seconds
        self.artifact_uri = md_uri
        if self.record_processed:
            record_processed(registry, ingest, _run_id(context), self.mine, self.analyse, figures)
        metrics.emit_report(repo_id, timer.seconds, build_seconds)
        return out

    def _aggregates(self, ingest: dict[str, Any]) -> Any:
        """The commit's stored aggregates, or None (a graph written before ontology 0.4.0)."""
        from freshpoc_tasks.api.store import GraphStore
        from freshpoc_tasks.hooks.dgraph import DgraphHook

        with DgraphHook(self.dgraph_conn_id) as hook:
            return GraphStore(hook).aggregates(ingest["repo_id"], ingest["commit"])

    def _impact(self, staging: Any, tmp: Path, owners: dict[str, str]) -> Any:
        from freshpoc_tasks.contracts.base import read_jsonl
        from freshpoc_tasks.graph import queries as q
        from freshpoc_tasks.graph.diff import GRAPH_DIFF_RECORDS
        from freshpoc_tasks.graph.ontology import load_graph_ontology
        from freshpoc_tasks.hooks.dgraph import DgraphHook
        from freshpoc_tasks.reporting.from_stages import impact_report

        diff_path = _download(staging, self.graph["uri"], tmp / "graph")
        diff = next(iter(read_jsonl(diff_path, GRAPH_DIFF_RECORDS)))
        touched = [c.id for c in (*diff.nodes_added, *diff.nodes_changed)][: self.MAX_IMPACT_QUERIES]
        onto = load_graph_ontology()
        dependents: dict[str, list[dict[str, Any]]] = {}
        with DgraphHook(self.dgraph_conn_id) as hook:
            for xid in touched:
                answer = hook.query(*q.dependencies(onto, xid, depth=1, direction="up"))
                found = []
                for node in answer.get("n", []):
                    for key, value in node.items():
                        if key.startswith("~") and isinstance(value, list):
                            found += [v for v in value if isinstance(v, dict) and v.get("xid")]
                dependents[xid] = found
        return impact_report(diff, dependents, owners)


def record_processed(registry: Any, ingest: dict[str, Any], run_id: str, mine: dict[str, Any],
                     analyse: dict[str, Any], figures: dict[str, Any]) -> None:
    """Mark the commit processed with these versions: what makes the next unchanged run skip it."""
    registry.record(
        ingest["repo_id"], ingest["commit"], ingest["fingerprint"],
        committed_at=datetime.fromisoformat(ingest["committed_at"]), run_id=run_id,
        snapshot_uri=ingest.get("snapshot_uri"),
        counts={**mine.get("counts", {}), **analyse.get("counts", {}), **figures})


class RecordOperator(_StageOperator):
    """The last task of a repository: records its commit as processed in the repo registry.

    Placed after every stage that must have finished (embed and report), so a commit whose
    vectors or report failed is processed again by the next run instead of being skipped.

    :param ingest: the ingest task's XCom; :param mine: the mine task's XCom;
    :param analyse: the analyse task's XCom; :param report: the report task's XCom (its
        ``figures`` are the commit's trend point).
    :param postgres_conn_id: repo registry connection (default ``freshpoc_postgres``).
    """

    template_fields: Sequence[str] = ("ingest", "mine", "analyse", "report")
    ui_color = "#d9d2e9"

    def __init__(self, *, mine: Any, analyse: Any, report: Any,
                 postgres_conn_id: str = CONN_DEFAULTS["postgres_conn_id"], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mine = mine
        self.analyse = analyse
        self.report = report
        self.postgres_conn_id = postgres_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from freshpoc_tasks.hooks.registry import RepoRegistry

        ingest = self._ingest()
        report = self.report if isinstance(self.report, dict) else json.loads(self.report)
        record_processed(RepoRegistry(self.postgres_conn_id), ingest, _run_id(context),
                         self.mine, self.analyse, report.get("figures", {}))
        return {"repo_id": ingest["repo_id"], "commit": ingest["commit"]}


def dead_letter(stage: str, run_id: str | None, kafka_conn_id: str = CONN_DEFAULTS["kafka_conn_id"]):
    """A callback that sends a failed spec to ``freshpoc.dlq`` with the reason, then logs it."""
    import logging

    from freshpoc_tasks.contracts.events import DeadLetter
    from freshpoc_tasks.hooks.events import EventPublisher

    def send(spec: dict[str, Any], exc: BaseException) -> None:
        logging.getLogger(__name__).warning("%s: %s refused: %s", stage, spec.get("repo"), exc)
        EventPublisher(kafka_conn_id).dead_letter(DeadLetter(
            stage=stage, repo_id=str(spec.get("repo")), run_id=run_id,
            reason=f"{type(exc).__name__}: {exc}"[:2000], payload=json.dumps(spec, default=str)))
        metrics.dead_lettered(stage, exc)

    return send


def stage_failed(context: Any) -> None:
    """``on_failure_callback`` of the per-repository tasks: once retries are spent, the
    repository (its spec, to re-submit it) and the reason go to ``freshpoc.dlq``.

    A spec the planning task could not resolve is already there (stage ``plan``): its ingest
    failure sends nothing more. Best effort: a broker down must not hide the task's own error.
    """
    import logging

    from freshpoc_tasks.contracts.events import DeadLetter
    from freshpoc_tasks.hooks.events import EventPublisher

    task, ti = context["task"], context["ti"]
    stage = task.task_id.rsplit(".", 1)[-1]
    try:
        spec = getattr(task, "repo", None)
        spec = spec if isinstance(spec, dict) else ({"repo": spec} if isinstance(spec, str) else {})
        if spec.get("error"):
            return
        ingest = getattr(task, "ingest", None)
        if ingest is None and "." in task.task_id:
            group = task.task_id.rsplit(".", 1)[0]
            ingest = ti.xcom_pull(task_ids=f"{group}.ingest", map_indexes=ti.map_index)
        if isinstance(ingest, str):
            ingest = json.loads(ingest)
        ingest = ingest if isinstance(ingest, dict) else {}
        location = ingest.get("location") or spec.get("repo")
        commit = ingest.get("commit")
        replay = {"repo": location, "ref": commit or spec.get("ref"), "as_of": spec.get("as_of"),
                  "force": bool(spec.get("force"))}
        exc = context.get("exception") or RuntimeError("failed")
        EventPublisher(getattr(task, "kafka_conn_id", CONN_DEFAULTS["kafka_conn_id"])).dead_letter(
            DeadLetter(stage=stage, repo_id=ingest.get("repo_id") or str(location), commit=commit,
                       run_id=str(context.get("run_id")), reason=failure_reason(exc),
                       payload=json.dumps(replay, default=str)))
        metrics.dead_lettered(stage, exc)
    except Exception:  # the task already failed: say why its letter did not go
        logging.getLogger(__name__).exception("could not dead-letter %s of %s", stage, task.task_id)
