"""``freshpoc report``: mine, analyse and report one repository on this machine, with no server.

The first value of FreshPoC without its six-server stack: the same core the pipeline runs
(``mining.pipeline.mine_repository``, ``analysis.stage.analyse_commit``, ``graph.from_mining``,
the graph writer's planner, ``reporting``) writing into one folder:

    OUT/report.md, report.html (+ mermaid.min.js next to it when installed), report.json
    OUT/impact.{md,html,json}           with --since REF: what changed since REF and what it reaches
    OUT/graph/nodes.jsonl, edges.jsonl  the versioned graph (the stack's Dgraph records, as files)
    OUT/graph/graph.graphml             the current graph for networkx, Gephi, yEd
    OUT/stages/mine.jsonl.gz, analysis.jsonl.gz

Run it again on a newer commit into the same folder and only what changed is analysed (the
analysis cache is content-addressed), only new commits are mined (the previous mine file is the
starting point), and the graph gains the commit on its timeline, so ``freshpoc lineage --at``
and the impact report can look back. Nothing here imports Airflow or a server client.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from freshpoc_tasks.contracts.locations import analysis_cache, mirror_cache

DEFAULT_MIRRORS = mirror_cache()
DEFAULT_CACHE = analysis_cache()
DEFAULT_OUT = Path("freshpoc-report")
FORMATS = ("md", "html", "json")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "report",
        help="mine + analyse + report a repository locally (no servers): Markdown, HTML, graph files",
        description=(
            "Mine and analyse REPO at REF with the pipeline's own core, keep its graph in OUT/graph "
            "(JSON Lines + GraphML) and write the repository report (and, with --since, the impact "
            "report). No Airflow, Kafka, Dgraph, MinIO or Weaviate is started or needed. REPO is "
            "anything 'freshpoc mine' accepts, e.g. '.' for the current checkout."
        ),
    )
    p.add_argument("repo", metavar="REPO")
    p.add_argument("--ref", default="HEAD", help="branch, tag or sha (default: HEAD)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder (default: ./{DEFAULT_OUT})")
    p.add_argument("--format", default="md,html", metavar="LIST",
                   help="comma-separated report formats: md, html, json (default: md,html)")
    p.add_argument("--since", metavar="REF", help="also write the impact report of REF..REF(--ref)")
    p.add_argument("--open", action="store_true", help="open the HTML report in a browser")
    p.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help=f"mirror cache ({DEFAULT_MIRRORS})")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"analysis cache ({DEFAULT_CACHE})")
    p.add_argument("--no-cache", action="store_true", help="analyse every file again")
    p.add_argument("--no-fetch", action="store_true", help="use the cached mirror as it is")
    p.add_argument("--dialect", help="SQL dialect of plain .sql files (sqlglot name, e.g. snowflake)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


class Progress:
    """One line per stage on stderr (what, counts, seconds); a live counter during analysis."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.started = self.t = time.monotonic()
        self._last = 0.0

    def stage(self, name: str, text: str) -> None:
        now = time.monotonic()
        if not self.quiet:
            print(f"{name:>8}: {text} ({now - self.t:.1f}s)", file=sys.stderr, flush=True)
        self.t = now

    def files(self, n: int, total: int, path: str) -> None:
        if self.quiet or total < 200:
            return
        now = time.monotonic()
        if self.tty:
            if n == total or now - self._last > 0.2:
                print(f"\ranalysing {n}/{total} {path[-50:]:<50}", end="", file=sys.stderr, flush=True)
                self._last = now
            if n == total:
                print(file=sys.stderr)
        elif n == total or now - self._last > 5:
            print(f"analysing: {n}/{total} files", file=sys.stderr, flush=True)
            self._last = now

    def commits(self, n: int) -> None:
        if not self.quiet and self.tty:
            print(f"\rmining: {n} commits", end="", file=sys.stderr, flush=True)


def _formats(text: str) -> list[str]:
    wanted = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = sorted(set(wanted) - set(FORMATS))
    if bad or not wanted:
        raise ValueError(f"--format takes {', '.join(FORMATS)}; got {text!r}")
    return wanted


def run(args: argparse.Namespace) -> int:
    from freshpoc_tasks.mining import RefNotFoundError, UnsafeLocationError
    from freshpoc_tasks.mining._git import GitError

    if not args.verbose:  # one "falling back to Command" line per odd SQL statement is noise here
        logging.getLogger("sqlglot").setLevel(logging.ERROR)
    from freshpoc_tasks.analysis.model import paused_gc

    try:
        formats = _formats(args.format)
        # Every stage here builds records by the hundred thousand that live to the end and hold
        # no reference cycles; the cyclic collector rescanning them was a third of a cold run's
        # CPU on the benchmark's 10,000-file repository. The analysis workers collect as usual.
        with paused_gc():
            return _report(args, formats)
    except (UnsafeLocationError, RefNotFoundError, GitError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _analyse(location: str, mirrors: Path, commit: str, stages: Path, cache: Path | None,
             dialect: str | None, quiet: bool) -> tuple[Any, dict[str, int]]:
    """The analysis stage's core (``analysis.stage.analyse_delta``): (delta, counts)."""
    from freshpoc_tasks.analysis.model import AnalysisConfig
    from freshpoc_tasks.analysis.stage import analyse_delta
    from freshpoc_tasks.mining.access import open_repository

    repo = open_repository(location, mirrors, fetch=False)
    return analyse_delta(repo, commit, result_cache=cache, config=AnalysisConfig(sql_dialect=dialect),
                         progress=Progress(quiet).files)


class _Analysis:
    """The analysis stage in a forked child while this process mines, or right here where
    processes cannot fork.

    The child hands the delta over first, as one JSON document that this side validates in one
    call (pydantic's own parser), and only then writes ``analysis.jsonl.gz``: the stage file is
    an output, not the way across, so its encoding and compression run while this process
    already plans the graph. Reading the stage file back instead (a JSON parse and a model
    validation per record) was the largest cost after the analysis on a large repository.
    """

    def __init__(self, job: tuple[Any, ...]) -> None:
        self._job = job
        self._stages: Path = job[3]
        self._proc = None
        self._value: tuple[Any, dict[str, int]] | None = None
        ctx = _fork_context()
        if ctx is None:
            return
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_analysis_child, args=(send, job), daemon=True)
        self._proc.start()
        send.close()

    def delta(self) -> tuple[Any, dict[str, int]]:
        """(the analysis delta, counts), once the child has sent them."""
        from freshpoc_tasks.contracts.graph import GraphDelta

        if self._proc is None:
            self._value = _analyse(*self._job)
            return self._value
        data, counts = self._message("analysis")
        return GraphDelta.model_validate_json(data), counts

    def finish(self) -> Path:
        """The stage file's path, once written (by the child, or here after :meth:`delta`)."""
        from freshpoc_tasks.analysis.stage import write_stage

        if self._proc is None:
            assert self._value is not None, "delta() first"
            return write_stage(self._value[0], self._stages)
        path = Path(self._message("the analysis stage file"))
        self._proc.join()
        return path

    def stop(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join()

    def _message(self, what: str) -> Any:
        try:
            ok, value = self._recv.recv()
        except EOFError:
            ok, value = False, "the child process died"
        except Exception as exc:  # an error object that does not unpickle here
            ok, value = False, f"its answer could not be read: {type(exc).__name__}: {exc}"
        if not ok:
            if isinstance(value, BaseException):  # the child's own error, as if raised here
                raise value
            raise RuntimeError(f"{what} failed: {value}")
        return value


def _analysis_child(send: Any, job: tuple[Any, ...]) -> None:
    from freshpoc_tasks.analysis.stage import write_stage

    try:
        delta, counts = _analyse(*job)
        send.send((True, (delta.model_dump_json().encode(), counts)))
        send.send((True, str(write_stage(delta, job[3]))))
    except BaseException as exc:  # reported to the parent, which raises it (or says what it was)
        try:
            send.send((False, exc))
        except Exception:  # an exception that does not pickle
            send.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


class _Background:
    """``fn(*args)`` in a forked child (its result sent back over a pipe), or right here where
    processes cannot fork."""

    def __init__(self, fn: Any, *args: Any) -> None:
        ctx = _fork_context()
        self._value: Any = None
        self._proc = None
        if ctx is None:
            self._value = fn(*args)
            return
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_send_result, args=(send, fn, args), daemon=True)
        self._proc.start()
        send.close()

    def stop(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join()

    def result(self) -> Any:
        if self._proc is None:
            return self._value
        try:
            ok, value = self._recv.recv()
        except EOFError:
            ok, value = False, "the child process died"
        self._proc.join()
        if not ok:
            raise RuntimeError(f"background step failed: {value}")
        return value


def _send_result(send: Any, fn: Any, args: tuple[Any, ...]) -> None:
    try:
        send.send((True, fn(*args)))
    except BaseException as exc:  # reported to the parent, which raises
        send.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


class _StageFiles:
    """The mine and analysis stage files of one commit, each written by a forked child while
    this process builds the graph and the reports; :meth:`finish` waits for both (their paths),
    :meth:`stop` ends the children when the caller fails first."""

    def __init__(self, mine: _Background, analysis: _Analysis) -> None:
        self.mine = mine
        self.analysis = analysis

    def finish(self) -> tuple[Path, Path]:
        return self.mine.result(), self.analysis.finish()

    def stop(self) -> None:
        self.analysis.stop()
        self.mine.stop()


def _fork_context() -> Any:
    import multiprocessing

    return multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None


def _mine_and_analyse(args: argparse.Namespace, repo: Any, commit: str, stages: Path, progress: Progress,
                      previous: Path | None) -> tuple[list[Any], Any, Any, _StageFiles, dict[str, int]]:
    """Mine and analyse one commit into ``stages``: (records, snapshot, delta, files, counts).

    ``files.finish()`` waits for the two stage files (written after the records and the delta
    are in this process); ``files.stop()`` ends their children when the caller fails first.

    The two stages are independent (both read the mirror), so where processes can fork the
    analysis runs in a child while this process mines: mining is one git stream parsed by one
    Python thread, which leaves the second core idle for most of a long history. The mine stage
    file is encoded and compressed by another child (sharing the records copy-on-write), a third
    of mining flask's history that nothing here waits for.
    """
    from freshpoc_tasks.contracts.mining import RepoSnapshot
    from freshpoc_tasks.graph.from_mining import merge_deltas, mining_delta
    from freshpoc_tasks.graph.local_store import ontology as graph_ontology
    from freshpoc_tasks.mining.pipeline import mine_repository
    from freshpoc_tasks.mining.pipeline import write_stage as write_mine_stage

    stages.mkdir(parents=True, exist_ok=True)
    job = (args.repo, args.mirrors, commit, stages, None if args.no_cache else args.cache, args.dialect,
           progress.quiet)
    analysis = _Analysis(job)
    forked = analysis._proc is not None
    mine_file: _Background | None = None
    try:
        records: list[Any] = []  # the mined records, kept here: not read back from the file
        mined = mine_repository(args.repo, stages, cache_dir=args.mirrors, ref=commit, previous=previous,
                                progress=progress.commits if not forked else None, fetch=False,
                                keep=records, write=False)
        mine_file = _Background(write_mine_stage, records, stages)
        c = mined.counts
        how = f"incremental after {mined.base_commit[:12]}" if mined.base_commit else "full history"
        progress.stage("mine", f"{c['commits']} commits ({how}), {c['files']} files, "
                               f"{c['hotspots']} hotspots, {c['couplings']} couplings")
        # Built while the analysis may still run in the child. The graph ontology's base is the
        # analysis ontology: one YAML parse in this process, not two.
        history = mining_delta(records, mined.repo_id, commit, ontology_version=graph_ontology().base.version)
        code, a = analysis.delta()
    except BaseException:
        analysis.stop()
        if mine_file is not None:
            mine_file.stop()
        raise
    progress.stage("analyse", f"{a['files']} files: {a['analysed']} analysed, {a['cached']} from cache, "
                              f"{a['failed']} with errors; {a['nodes']} nodes, {a['edges']} edges"
                              + (" (alongside mining)" if forked else ""))
    snapshot = next(r for r in records if isinstance(r, RepoSnapshot))
    delta = merge_deltas(history, code)
    counts = {**{f"mine.{k}": v for k, v in c.items()}, **{f"analyse.{k}": v for k, v in a.items()}}
    return records, snapshot, delta, _StageFiles(mine_file, analysis), counts


def _report(args: argparse.Namespace, formats: list[str]) -> int:
    from freshpoc_tasks.mining.access import open_repository

    progress = Progress(args.quiet)
    out: Path = args.out
    stages = out / "stages"
    out.mkdir(parents=True, exist_ok=True)
    repo = open_repository(args.repo, args.mirrors, fetch=not args.no_fetch)
    head = repo.resolve(args.ref)
    since = repo.resolve(args.since) if args.since else None
    progress.stage("resolve", f"{repo.repo_id} @ {head[:12]}" + (f", since {since[:12]}" if since else ""))

    previous = stages / "mine.jsonl.gz"
    records, snapshot, delta, analysis, counts = _mine_and_analyse(
        args, repo, head, stages, progress, previous if previous.is_file() else None)
    try:
        return _report_on(args, formats, progress, repo, head, since, records, snapshot, delta, analysis,
                          counts)
    finally:
        analysis.stop()  # only when something failed before finish(): the children have ended otherwise


def _report_on(args: argparse.Namespace, formats: list[str], progress: Progress, repo: Any, head: str,
               since: str | None, records: list[Any], snapshot: Any, delta: Any, analysis: _StageFiles,
               counts: dict[str, int]) -> int:
    """Graph files and reports for a mined and analysed commit (the rest of :func:`_report`)."""
    from freshpoc_tasks.graph.local_export import GRAPHML_FILE, write_graphml
    from freshpoc_tasks.graph.local_store import LocalGraph, LocalStore
    from freshpoc_tasks.graph.validity import to_us
    from freshpoc_tasks.reporting.from_stages import report_inputs, repository_report
    from freshpoc_tasks.reporting.offline import ship_bundle
    from freshpoc_tasks.reporting.reports import render_repository_report

    out: Path = args.out
    graph_dir = out / "graph"

    # The same delta already written for this commit (a rerun): the graph files stand as they are.
    meta = LocalGraph.read_meta(graph_dir)
    digest = LocalGraph.digest(delta)
    stored = meta.get("digests", {}).get(repo.repo_id, {}).get(head)
    unchanged = LocalGraph.adds_nothing(delta, stored, digest) and (graph_dir / GRAPHML_FILE).is_file()
    graph = None
    since_at = None
    if unchanged and since is None:
        progress.stage("graph", f"unchanged since the last run of {head[:12]}: {graph_dir} kept")
    else:
        graph = LocalGraph.load(graph_dir)
        pc = graph.apply(delta, snapshot.committed_at, digest=digest).plan.counts
        if since is not None:
            since_at = _ensure_processed(args, repo, since, graph, out, progress)
        # GraphML is written by a forked child while this process saves the JSON Lines and
        # renders the reports (it is waited for after them): the graph is shared copy-on-write,
        # nothing is pickled. The folder is made first: the child (or, without fork, this call)
        # must not race ``save`` for it.
        graph_dir.mkdir(parents=True, exist_ok=True)
        graphml = _Background(write_graphml, graph, graph_dir / GRAPHML_FILE)
        graph.save(graph_dir)
        progress.stage("graph", f"{len(graph.nodes)} nodes, {sum(len(o) for o in graph.out.values())} edges "
                                f"over the history ({pc['nodes_created']} created, {pc['nodes_updated']} "
                                f"updated, {pc['nodes_closed']} closed)")
    mined = report_inputs(records, delta)
    # The commit's figures as the local store computed them when it wrote the delta, so the
    # report says what ``freshpoc`` questions on the graph (and the API on Dgraph) say.
    figures = (graph.aggregates.get(repo.repo_id, {}).get(head) if graph is not None
               else _saved_aggregates(graph_dir, repo.repo_id, head))
    report = repository_report(mined.records, delta, aggregates=figures)
    src, note = ship_bundle(out) if "html" in formats else ("", "")
    md, page = render_repository_report(report, mermaid_src=src, mermaid_note=note)
    written = _write(out, "report", formats, md, page, report)
    if graph is not None and since is not None and since_at is not None:
        store = LocalStore(graph)
        impact = _impact_report(store, repo.repo_id, since, since_at, head, to_us(snapshot.committed_at))
        from freshpoc_tasks.reporting.reports import render_impact_report

        imd, ipage = render_impact_report(impact, mermaid_src=src, mermaid_note=note)
        written += _write(out, "impact", formats, imd, ipage, impact)
    progress.stage("report", ", ".join(str(p) for p in written) + (" (no Mermaid bundle: diagrams as text)"
                                                                     if note and "html" in formats else ""))
    if graph is not None:
        shape = graphml.result()
        progress.stage("graphml", f"{shape['nodes']} nodes, {shape['edges']} edges present at {head[:12]}")
    analysis.finish()
    total = time.monotonic() - progress.started
    # The repository's nodes at the commit as the report counts them (its figures), not the
    # delta's length: an incremental mine with no new commits leaves the commits and their
    # authors out of the delta, and the line then gave a rerun a smaller graph than the first run.
    present = sum(figures.counts_by_type.values()) if figures is not None else len(delta.nodes)
    print(f"{repo.repo_id}@{head[:12]}: {counts['analyse.files']} files analysed "
          f"({counts['analyse.analysed']} analyzer runs, {counts['analyse.cached']} from cache), "
          f"{present} nodes of the repository at this commit in {total:.1f}s")
    for path in written:
        print(f"  {path}")
    print(f"  {graph_dir / 'nodes.jsonl'}, {graph_dir / 'edges.jsonl'}, {graph_dir / GRAPHML_FILE}")
    if args.open and "html" in formats:
        import webbrowser

        webbrowser.open((out / "report.html").resolve().as_uri())
    return 0


def _saved_aggregates(graph_dir: Path, repo_id: str, commit: str) -> Any:
    """The figures ``LocalGraph.apply`` saved for (repository, commit), read from the aggregates
    file alone (a rerun of an unchanged commit does not load the graph); None when absent."""
    import json

    from freshpoc_tasks.graph import aggregates as ag
    from freshpoc_tasks.graph.local_store import AGGREGATES_FILE

    path = graph_dir / AGGREGATES_FILE
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            summary = rec["summary"]
            if summary.get("repo_id") == repo_id and summary.get("commit") == commit:
                agg = ag.Aggregates.from_json(json.dumps(summary))
                agg.full = rec["lists"]
                return agg
    return None


def _ensure_processed(args: argparse.Namespace, repo: Any, commit: str, graph: Any, out: Path,
                      progress: Progress) -> int:
    """Put ``commit`` on the local timeline (mine + analyse it when it is not); its time in µs."""
    from freshpoc_tasks.graph.validity import to_us

    for us, sha in graph.timelines.get(repo.repo_id, []):
        if sha == commit:
            return us
    _, snapshot, delta, analysis, _ = _mine_and_analyse(
        args, repo, commit, out / "stages" / f"since-{commit[:12]}", progress, None)
    try:
        graph.apply(delta, snapshot.committed_at)
        analysis.finish()
    finally:
        analysis.stop()
    return to_us(snapshot.committed_at)


def _impact_report(store: Any, repo_id: str, since: str, since_us: int, head: str, head_us: int) -> Any:
    """The impact question (``graph.queries.impact``, as the API asks it) as the impact report,
    with owners from the mined history of the files the affected nodes are defined in."""
    from freshpoc_tasks.contracts.graph import node_id
    from freshpoc_tasks.graph.queries import impact
    from freshpoc_tasks.reporting import Affected, ImpactReport

    if since_us > head_us:
        raise ValueError(f"--since {since[:12]} is newer than the reported commit {head[:12]}")
    found = impact(store, repo_id, since_us, head_us)
    affected = []
    for a in found.affected:
        info = store.node(a["xid"], head_us) or store.node(a["xid"], since_us) or {}
        owners = sorted({o for f in info.get("files", [])
                         if (o := store.graph.nodes.get(node_id("file", repo_id, f), {}).get("main_author"))})
        affected.append(Affected(a["xid"], a.get("type") or "", a.get("name") or a["xid"], tuple(owners)))
    return ImpactReport(repo_id, head, since,
                        added=[(n.get("type") or "", n.get("name") or n["xid"]) for n in found.added],
                        removed=[(n.get("type") or "", n.get("name") or n["xid"]) for n in found.removed],
                        impact_edges=found.impact_edges, affected=affected)


def _write(out: Path, name: str, formats: list[str], md: str, page: str, values: Any) -> list[Path]:
    import dataclasses
    import json

    written = []
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        if fmt == "md":
            text = md
        elif fmt == "html":
            text = page
        else:
            text = json.dumps(dataclasses.asdict(values), indent=1, ensure_ascii=False, default=str) + "\n"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written
