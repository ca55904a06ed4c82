"""SQL file analyzer: statement nodes, tables read/written and column lineage per file.

``.sql`` files inside a dbt project are left to the dbt analyzer, which renders their Jinja
first; everything else is plain SQL in the repository's configured dialect.

Each statement gets the relation its kind has: ``reads`` / ``writes`` to tables and to storage
locations (``sql.location``: a file, a bucket path, a directory), ``drops`` / ``truncates`` /
``alters`` / ``deletes`` for changes that carry no data lineage, and ``renames`` (old table to
new). Statements inside a procedure's ``BEGIN … END`` are their own nodes, ``block`` pointing at
the procedure's statement.
"""

from __future__ import annotations

from collections.abc import Iterable

from jinja2 import TemplateError
from sqlglot.errors import SqlglotError

from freshpoc_tasks.analysis.base import AnalysisError, Analyzer
from freshpoc_tasks.analysis.model import Budget, FileResult, RepoContext, SourceFile
from freshpoc_tasks.analysis.safe_jinja import JinjaBudgetExceeded, SafeSandbox
from freshpoc_tasks.analysis.sqlcore import StatementInfo, analyse_sql
from freshpoc_tasks.contracts.graph import Edge, Node, node_id

_JINJA: SafeSandbox | None = None


def render_templated_sql(text: str) -> str:
    """Airflow-style templates (``{{ ds }}``) render to empty strings so the SQL still parses.

    Sandboxed with bounded values and loops (``safe_jinja``), and unknown names are empty, so a
    template can neither reach Python internals nor fail on a macro we do not have. A template
    that merely fails is analysed as written; one that tries to build a huge value or loop is
    refused as ``jinja_budget`` (a tiny file must not cost the run gigabytes).
    """
    global _JINJA
    if "{{" not in text and "{%" not in text:
        return text
    if _JINJA is None:
        from freshpoc_tasks.analysis.dbt import _Missing

        _JINJA = SafeSandbox(undefined=_Missing, autoescape=False)
    try:
        return _JINJA.from_string(text).render()
    except JinjaBudgetExceeded as exc:
        raise AnalysisError("jinja_budget", str(exc)) from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, AttributeError, KeyError, IndexError,
            RecursionError):
        return text


def dbt_project_root(path: str, ctx: RepoContext) -> str | None:
    """The directory of the nearest ``dbt_project.yml`` above ``path`` ("" for the repo root)."""
    parts = path.split("/")[:-1]
    for i in range(len(parts), -1, -1):
        base = "/".join(parts[:i])
        if ctx.exists(f"{base}/dbt_project.yml" if base else "dbt_project.yml"):
            return base
    return None


class TableEmitter:
    """Deduplicating builder of the shared sql.table / sql.column nodes and lineage edges."""

    def __init__(self, ctx: RepoContext, nodes: list[Node], edges: list[Edge]) -> None:
        self.ctx = ctx
        self.nodes = nodes
        self.edges = edges
        self.tables: set[str] = set()
        self.columns: set[tuple[str, str]] = set()
        self.locations: set[str] = set()

    def location(self, uri: str) -> str:
        """A storage location (``s3://…``, a directory, a file): read or written, never a table."""
        lid = node_id("sql.location", self.ctx.config.warehouse, uri)
        if uri not in self.locations:
            self.locations.add(uri)
            scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
            self.nodes.append(Node(id=lid, type="sql.location", scope=self.ctx.config.warehouse, key=uri,
                                   name=uri.rstrip("/").rpartition("/")[2] or uri,
                                   props={"uri": uri, "scheme": scheme}))
        return lid

    def table(self, fqn: str) -> str:
        tid = self.ctx.table_id(fqn)
        if fqn not in self.tables:
            self.tables.add(fqn)
            self.nodes.append(Node(id=tid, type="sql.table", scope=self.ctx.config.warehouse, key=fqn,
                                   name=fqn.rpartition(".")[2], props={"fqn": fqn}))
        return tid

    def column(self, fqn: str, column: str, description: str = "") -> str:
        cid = self.ctx.column_id(fqn, column)
        if (fqn, column) not in self.columns:
            self.columns.add((fqn, column))
            tid = self.table(fqn)
            props = {"table": fqn, "column": column}
            if description:
                props["description"] = description
            self.nodes.append(Node(id=cid, type="sql.column", scope=self.ctx.config.warehouse,
                                   key=f"{fqn}.{column}", name=column, props=props))
            self.edges.append(Edge(type="has_column", src=tid, dst=cid))
        return cid

    def lineage(self, target: str, columns: dict[str, list[tuple[str, str]]]) -> None:
        """``derives_from`` edges; a ``*`` column stands for every column of a table whose columns
        are not known (``insert into t select * from s`` gives ``t.* -> s.*``)."""
        for column, upstream in columns.items():
            dst = self.column(target, column)
            for table, up_col in upstream:
                self.edges.append(Edge(type="derives_from", src=dst, dst=self.column(table, up_col)))


def statement_graph(infos: Iterable[StatementInfo], path: str, ctx: RepoContext, analyzer: str,
                    dialect: str | None, result: FileResult, owner: str | None = None) -> list[str]:
    """Add statement nodes, table edges and lineage for ``infos`` to ``result``; return statement ids.

    ``owner`` (an Airflow task) also gets reads/writes edges to the tables, so questions such as
    "which task writes this table" need no hop through statements.
    """
    emit = TableEmitter(ctx, result.nodes, result.edges)
    file_id = ctx.file_id(path)
    ids = []
    prefix = owner.split(":", 2)[2] if owner else path
    for info in infos:
        key = f"{prefix}#{info.index}"
        sid = ctx.nid("sql.statement", key)
        ids.append(sid)
        result.nodes.append(Node(
            id=sid, type="sql.statement", scope=ctx.repo_id, key=key, name=f"{info.kind} #{info.index}",
            path=path, span=(info.line, info.line),
            props={"kind": info.kind, "dialect": dialect or "", "index": info.index, "ctes": info.ctes,
                   "parsed": info.parsed, "error": info.error or "",
                   "block": -1 if info.block is None else info.block}))
        result.edges.append(Edge(type="defined_in", src=sid, dst=file_id))
        relations = [("reads", emit.table(t)) for t in info.reads]
        relations += [("writes", emit.table(t)) for t in info.writes]
        relations += [("reads", emit.location(u)) for u in info.read_locations]
        relations += [("writes", emit.location(u)) for u in info.write_locations]
        relations += [(rel, emit.table(t)) for rel, t in info.effects]
        for edge, dst in relations:
            result.edges.append(Edge(type=edge, src=sid, dst=dst))
            if owner:
                result.edges.append(Edge(type=edge, src=owner, dst=dst))
        for old, new in info.renames:
            result.edges.append(Edge(type="renames", src=sid, dst=emit.table(old), props={"role": "from"}))
            result.edges.append(Edge(type="renames", src=sid, dst=emit.table(new), props={"role": "to"}))
            result.edges.append(Edge(type="renamed_to", src=emit.table(old), dst=emit.table(new)))
        if info.target:
            emit.lineage(info.target, info.columns)
        if info.error:
            result.diagnostics.append(_diag(analyzer, path, "sql_parse_error",
                                            f"statement {info.index} fell back to table-level lineage: "
                                            f"{info.error}", info.line))
        if info.unresolved:
            loose = ", ".join(f"{col} <- {'/'.join(ups)}" for col, ups in sorted(info.unresolved.items()))
            result.diagnostics.append(_diag(analyzer, path, "lineage_ambiguous",
                                            f"statement {info.index}: upstream table not determinable "
                                            f"for {loose}", info.line))
        if info.lineage_error:
            result.diagnostics.append(_diag(analyzer, path, "lineage_incomplete",
                                            f"statement {info.index}: {info.lineage_error}", info.line))
    return ids


def _diag(analyzer: str, path: str, code: str, message: str, line: int | None):
    from freshpoc_tasks.contracts.graph import Diagnostic

    return Diagnostic(path=path, analyzer=analyzer, severity="warning", code=code, message=message[:500],
                      line=line)


class SqlAnalyzer(Analyzer):
    name = "sql"
    version = "2.2.0"

    def accepts(self, file: SourceFile, ctx: RepoContext) -> bool:
        return file.suffix == ".sql" and dbt_project_root(file.path, ctx) is None

    def _analyze(self, file: SourceFile, text: str, ctx: RepoContext, budget: Budget) -> FileResult:
        dialect = ctx.config.sql_dialect
        try:
            infos = analyse_sql(render_templated_sql(text), dialect, check=budget.check)
        except SqlglotError as exc:
            raise AnalysisError("sql_tokenize_error", str(exc).splitlines()[0] if str(exc) else "") from None
        result = FileResult(path=file.path, analyzer=self.name)
        statement_graph(infos, file.path, ctx, self.name, dialect, result)
        return result
