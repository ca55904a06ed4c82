"""SQL lineage on sqlglot: statements, tables read and written, CTEs, column lineage.

Shared by the SQL, dbt, Airflow and Python analyzers, so a table named in a ``.sql`` file, a dbt
model and an operator's ``sql=`` all normalise to the same fully-qualified name. Statements are
split on the tokenizer's semicolons and parsed one by one, so a single statement sqlglot cannot
parse costs only itself; for it we fall back to table names read off the token stream (still
sqlglot's tokens, never regular expressions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage
from sqlglot.tokens import Token, TokenType

# A table is referenced by the token right after one of these.
_READ_AFTER = {TokenType.FROM, TokenType.JOIN}
_WRITE_AFTER = {TokenType.INTO, TokenType.UPDATE, TokenType.TABLE}
_NAME_TOKENS = {TokenType.VAR, TokenType.IDENTIFIER}
_DEFAULT_PART = "__freshpoc_default__"

Schema = Mapping[str, Mapping[str, str]]  # table fqn -> column -> type


@dataclass
class StatementInfo:
    index: int
    kind: str
    line: int
    parsed: bool = True
    error: str | None = None
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    ctes: list[str] = field(default_factory=list)
    # output column -> upstream (table fqn, column) pairs
    columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    lineage_error: str | None = None

    @property
    def target(self) -> str | None:
        return self.writes[0] if self.writes else None


def table_fqn(table: exp.Table) -> str:
    parts = [p for p in (table.catalog, table.db, table.name) if p and p != _DEFAULT_PART]
    return ".".join(parts).lower()


def _dialect(dialect: str | None) -> Dialect:
    return Dialect.get_or_raise(dialect)


def _chunks(tokens: list[Token]) -> Iterator[list[Token]]:
    chunk: list[Token] = []
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            if chunk:
                yield chunk
            chunk = []
        else:
            chunk.append(tok)
    if chunk:
        yield chunk


def _tables_from_tokens(tokens: list[Token]) -> tuple[list[str], list[str]]:
    """Table-level fallback for a statement the parser rejected."""
    reads: list[str] = []
    writes: list[str] = []
    i = 0
    while i < len(tokens):
        tt = tokens[i].token_type
        if (tt in _READ_AFTER or tt in _WRITE_AFTER) and i + 1 < len(tokens):
            j = i + 1
            parts = []
            while j < len(tokens) and _is_name(tokens, j):
                parts.append(tokens[j].text)
                if j + 1 < len(tokens) and tokens[j + 1].token_type == TokenType.DOT:
                    j += 2
                else:
                    j += 1
                    break
            if parts:
                name = ".".join(parts).lower()
                (writes if tt in _WRITE_AFTER else reads).append(name)
            i = j
        else:
            i += 1
    return _unique(reads), _unique(writes)


def _is_name(tokens: list[Token], j: int) -> bool:
    """An identifier, or a keyword used as one (``out.t``): followed by a dot, or after one."""
    tok = tokens[j]
    if tok.token_type in _NAME_TOKENS:
        return True
    if not tok.text.isidentifier():
        return False
    after_dot = j > 0 and tokens[j - 1].token_type == TokenType.DOT
    before_dot = j + 1 < len(tokens) and tokens[j + 1].token_type == TokenType.DOT
    return after_dot or before_dot


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _write_target(stmt: exp.Expr) -> exp.Table | None:
    if isinstance(stmt, exp.Insert | exp.Create | exp.Update | exp.Delete | exp.Merge | exp.Drop):
        target = stmt.this
        if isinstance(target, exp.Schema):
            target = target.this
        if isinstance(target, exp.Table):
            return target
    return None


def _query_of(stmt: exp.Expr) -> exp.Query | None:
    if isinstance(stmt, exp.Query):
        return stmt
    if isinstance(stmt, exp.Insert | exp.Create):
        query = stmt.expression
        if isinstance(query, exp.Query):
            with_ = stmt.args.get("with_") or stmt.args.get("with")
            if with_ is not None and not query.args.get("with_") and not query.args.get("with"):
                query = query.copy()
                query.set("with_" if "with_" in type(query).arg_types else "with", with_.copy())
            return query
    return None


def _nested_schema(schema: Schema) -> tuple[dict, int]:
    """sqlglot wants one nesting depth for all tables; pad shorter names with a placeholder."""
    depth = max((len(k.split(".")) for k in schema), default=1)
    nested: dict = {}
    for fqn, cols in schema.items():
        parts = fqn.split(".")
        parts = [_DEFAULT_PART] * (depth - len(parts)) + parts
        cur = nested
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = dict(cols)
    return nested, depth


def column_lineage(query: exp.Query, dialect: str | None, schema: Schema | None = None,
                   sources: Mapping[str, exp.Query] | None = None,
                   copy: bool = True) -> dict[str, list[tuple[str, str]]]:
    """Map each output column of ``query`` to the (table, column) pairs it is computed from.

    ``*`` expands when ``schema`` knows the upstream columns; ``sources`` inlines relations that
    exist only as queries (dbt's ephemeral models).
    """
    nested, depth = _nested_schema(schema or {})
    kwargs = {}
    if depth >= 2:
        kwargs["db"] = _DEFAULT_PART
    if depth >= 3:
        kwargs["catalog"] = _DEFAULT_PART
    # trim_selects only prettifies each node's expression, which we never read; skipping it and
    # the defensive copy (callers own ``query``) roughly halves the cost of lineage.
    result = lineage(None, query, schema=nested, sources=dict(sources or {}), dialect=dialect,
                     trim_selects=False, copy=copy, **kwargs)
    out: dict[str, list[tuple[str, str]]] = {}
    for name, root in (result.items() if isinstance(result, dict) else [(result.name, result)]):
        pairs = []
        for node in root.walk():
            if node.downstream or not isinstance(node.source, exp.Table):
                continue
            column = node.name.rpartition(".")[2].lower()
            if column == "*":
                continue
            pairs.append((table_fqn(node.source), column))
        out[name.lower()] = sorted(set(pairs))
    return out


def analyse_sql(text: str, dialect: str | None = None, schema: Schema | None = None,
                check: Callable[[], None] | None = None, with_columns: bool = True) -> list[StatementInfo]:
    """Analyse every statement of ``text``.

    ``schema`` grows as the file's own DDL and CTAS statements are read, so a later statement's
    ``*`` can expand over a table created earlier in the same file. ``check`` is called between
    statements (the per-file time budget).
    """
    d = _dialect(dialect)
    known: dict[str, dict[str, str]] = {k: dict(v) for k, v in (schema or {}).items()}
    tokens = d.tokenize(text)
    out: list[StatementInfo] = []
    for index, chunk in enumerate(_chunks(tokens)):
        if check is not None:
            check()
        line = chunk[0].line
        try:
            parsed = d.parser().parse(chunk, text)
            stmt = parsed[0] if parsed else None
        except Exception as exc:  # sqlglot errors, and its rare internal bugs on odd input
            reads, writes = _tables_from_tokens(chunk)
            message = (str(exc).splitlines() or [""])[0][:300]
            if not isinstance(exc, SqlglotError):
                message = f"{type(exc).__name__}: {message}"
            out.append(StatementInfo(index=index, kind="unparsed", line=line, parsed=False,
                                     error=message or type(exc).__name__, reads=reads, writes=writes))
            continue
        if stmt is None:
            continue
        if isinstance(stmt, exp.Command):  # syntax sqlglot keeps only as opaque text
            reads, writes = _tables_from_tokens(chunk)
            out.append(StatementInfo(index=index, kind="command", line=line, parsed=False,
                                     error=f"unsupported syntax: {stmt.name} kept as a command",
                                     reads=reads, writes=writes))
            continue
        info = describe_statement(stmt, index, line)
        if with_columns:
            add_column_lineage(info, stmt, dialect, known, copy=False)
        if info.target and info.columns:
            known[info.target] = {c: "unknown" for c in info.columns}
        elif info.target and isinstance(stmt, exp.Create) and isinstance(stmt.this, exp.Schema):
            known[info.target] = {
                c.name.lower(): (c.args["kind"].sql() if c.args.get("kind") else "unknown")
                for c in stmt.this.expressions if isinstance(c, exp.ColumnDef)
            }
        out.append(info)
    return out


def describe_statement(stmt: exp.Expr, index: int = 0, line: int = 1) -> StatementInfo:
    """Tables read and written and CTE names of one parsed statement."""
    ctes = [c.alias_or_name.lower() for c in stmt.find_all(exp.CTE)]
    target = _write_target(stmt)
    writes = [table_fqn(target)] if target is not None else []
    cte_set = set(ctes)
    reads = []
    for table in stmt.find_all(exp.Table):
        if table is target or not table.name:
            continue
        fqn = table_fqn(table)
        if not table.db and fqn in cte_set:
            continue
        reads.append(fqn)
    kind = stmt.key
    if isinstance(stmt, exp.Create):
        kind = f"create_{str(stmt.args.get('kind') or 'table').lower()}"
    return StatementInfo(index=index, kind=kind, line=line, reads=_unique(reads), writes=writes,
                         ctes=_unique(ctes))


def add_column_lineage(info: StatementInfo, stmt: exp.Expr, dialect: str | None, schema: Schema,
                       sources: Mapping[str, exp.Query] | None = None, copy: bool = True) -> None:
    """Fill ``info.columns``; with ``copy=False`` the statement is qualified in place."""
    query = _query_of(stmt)
    if query is None:
        return
    try:
        columns = column_lineage(query, dialect, schema, sources, copy=copy)
    except Exception as exc:  # lineage is best effort: tables read/written stand without it
        info.lineage_error = f"{type(exc).__name__}: {exc}"[:300]
        return
    if isinstance(stmt, exp.Insert) and isinstance(stmt.this, exp.Schema) and stmt.this.expressions:
        targets = [c.name.lower() for c in stmt.this.expressions]
        if len(targets) == len(columns):
            columns = dict(zip(targets, columns.values(), strict=True))
    info.columns = columns


def table_refs_from_sql(text: str, dialect: str | None = None) -> list[tuple[str, str]]:
    """(table, "read"|"write") pairs named by a SQL string; empty when it is not SQL."""
    try:
        infos = analyse_sql(text, dialect, with_columns=False)
    except SqlglotError:
        return []
    pairs: list[tuple[str, str]] = []
    for info in infos:
        pairs += [(t, "read") for t in info.reads] + [(t, "write") for t in info.writes]
    return list(dict.fromkeys(pairs))


def parse_one(sql: str, dialect: str | None) -> exp.Expr:
    return sqlglot.parse_one(sql, dialect=dialect)
