"""SQL lineage on sqlglot: statements, tables read and written, CTEs, column lineage.

Shared by the SQL, dbt, Airflow and Python analyzers, so a table named in a ``.sql`` file, a dbt
model and an operator's ``sql=`` all normalise to the same fully-qualified name.

Statements are split on sqlglot's tokens, not on text: a ``;`` inside a ``BEGIN … END`` block (a
procedure, a script block) does not end the statement, and such a block's inner statements are
analysed one by one (``StatementInfo.block`` points at the block). A statement sqlglot cannot
parse costs only itself; for it we fall back to table names read off the token stream.

Every statement kind says what it does to a relation: queries read, DML and DDL-with-query write,
DROP / TRUNCATE / ALTER / RENAME have their own relation (``effects``, ``renames``), and utility
statements (USE, SHOW, SET, DESCRIBE, ANALYZE, CACHE, REFRESH, CREATE FUNCTION, ...) touch no
table at all. Storage locations (``COPY … FROM 's3://…'``, ``INSERT OVERWRITE DIRECTORY``,
``parquet.`path```) are locations, not tables.

Column lineage is our own resolver over sqlglot's syntax tree rather than ``sqlglot.lineage``:
that one qualifies the whole statement first, so a single column it cannot place (a lateral
alias, a scalar subquery, an unqualified column in a join) fails every column of the statement.
Here each output column is resolved on its own; a column whose table is ambiguous is reported in
``StatementInfo.unresolved`` and costs only itself. ``*`` expands when the upstream columns are
known (the caller's schema, or a table created earlier in the same text) and otherwise becomes a
``tab.*`` edge; an expression without an alias is named by its SQL text; declared column lists
(``INSERT INTO t (a, b)``, ``CREATE VIEW v (a, b)``, a known target table) map positionally;
MERGE and UPDATE … SET give lineage per assigned column. Identifiers are normalised as the
dialect does: quotes removed, unquoted names case-folded (to lower case, our canonical spelling,
even for dialects that fold to upper case), quoted names kept as written where the dialect treats
them as case-sensitive.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

# Version of this shared core. The sql, dbt, airflow and python analyzers all read SQL through it,
# so it is part of every analyzer's cache key and of the reprocessing fingerprint: bump it on any
# change of its output, and every analyzer's cached results are redone without bumping each one.
VERSION = "2.2.0"

# A table is referenced by the token right after one of these (fallback for unparsed statements).
_READ_AFTER = {TokenType.FROM, TokenType.JOIN}
_WRITE_AFTER = {TokenType.INTO, TokenType.UPDATE, TokenType.TABLE, TokenType.VIEW}
_NAME_TOKENS = {TokenType.VAR, TokenType.IDENTIFIER}

# ``BEGIN`` followed by one of these starts a transaction, not a block.
_TRANSACTION_WORDS = {"TRANSACTION", "TRAN", "WORK", "DISTRIBUTED", "IMMEDIATE", "EXCLUSIVE", "DEFERRED",
                      "ISOLATION", "READ"}
# ``END`` followed by one of these closes a construct we do not count (PL/SQL ``END IF``, ...).
_END_OF_UNCOUNTED = {"IF", "LOOP", "WHILE", "REPEAT", "FOR"}
# Statements (by first keyword) that never read or write a relation.
_UTILITY_WORDS = {
    "SHOW", "SET", "RESET", "ADD", "USE", "DESC", "DESCRIBE", "EXPLAIN", "GRANT", "REVOKE", "COMMENT",
    "VACUUM", "OPTIMIZE", "MSCK", "REFRESH", "CACHE", "UNCACHE", "ANALYZE", "CALL", "EXEC", "EXECUTE",
    "DECLARE", "PRINT", "LIST", "REMOVE", "BEGIN", "COMMIT", "ROLLBACK", "START", "END", "RETURN",
    "LOCK", "UNLOCK", "KILL", "CLEAR", "SAVEPOINT", "RELEASE", "DEALLOCATE", "PREPARE", "RAISE", "GO",
    "PRAGMA", "CHECKPOINT", "DISCARD", "LISTEN", "NOTIFY", "REINDEX", "CLUSTER", "FLUSH", "INVALIDATE",
    "COMPUTE", "SOURCE", "LEAVE", "ITERATE", "CONTINUE", "BREAK", "ATTACH", "DETACH", "INSTALL",
}
# In a statement we could only tokenize, a string after these names a location read or written.
_READ_LOCATION_AFTER = {"FROM", "INFILE", "INPATH"}
_WRITE_LOCATION_AFTER = {"TO", "DIRECTORY", "OUTFILE"}
# Parsed statement types that never read or write a relation.
_UTILITY_TYPES: tuple[type, ...] = tuple(
    getattr(exp, name) for name in (
        "Use", "Describe", "Analyze", "Cache", "Uncache", "Refresh", "Set", "Show", "Pragma", "Commit",
        "Rollback", "Transaction", "Grant", "Revoke", "Comment", "Declare", "Execute", "Kill", "Summarize",
        "Attach", "Detach", "Install",
    ) if hasattr(exp, name))
_RELATION_KINDS = {"TABLE", "VIEW", "MATERIALIZED VIEW", "DYNAMIC TABLE", "EXTERNAL TABLE"}
_FILE_FORMATS = {"parquet", "json", "csv", "orc", "avro", "text", "delta", "binaryfile", "iceberg", "hudi"}
_FILE_SUFFIXES = (".parquet", ".csv", ".json", ".jsonl", ".ndjson", ".orc", ".avro", ".tsv", ".txt",
                  ".csv.gz", ".json.gz", ".parquet.gz", ".xlsx")

Schema = Mapping[str, Mapping[str, str]]  # table fqn -> column -> type
Dep = tuple[str | None, str]  # (table fqn, or None when the table is ambiguous; column)


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
    read_locations: list[str] = field(default_factory=list)
    write_locations: list[str] = field(default_factory=list)
    # (relation, table): "drops", "truncates", "alters", "deletes" -- changes without data lineage
    effects: list[tuple[str, str]] = field(default_factory=list)
    renames: list[tuple[str, str]] = field(default_factory=list)  # (old, new)
    # output column -> upstream column names whose table cannot be told (e.g. unqualified in a join)
    unresolved: dict[str, list[str]] = field(default_factory=dict)
    block: int | None = None  # index of the enclosing BEGIN … END block statement

    @property
    def target(self) -> str | None:
        return self.writes[0] if self.writes else None

    @property
    def drops(self) -> list[str]:
        return [t for rel, t in self.effects if rel == "drops"]


# --- names -------------------------------------------------------------------------------------

_STRATEGIES: dict[str | None, NormalizationStrategy] = {}


def _strategy(dialect: str | Dialect | None) -> NormalizationStrategy:
    if isinstance(dialect, Dialect):
        return dialect.normalization_strategy
    if dialect not in _STRATEGIES:  # building a Dialect is not free; names are few
        _STRATEGIES[dialect] = Dialect.get_or_raise(dialect).normalization_strategy
    return _STRATEGIES[dialect]


def _fold(name: str, quoted: bool, strategy: NormalizationStrategy) -> str:
    """Our canonical spelling of an identifier under ``strategy`` (see the module docstring)."""
    if strategy in (NormalizationStrategy.CASE_SENSITIVE,):
        return name
    if not quoted or strategy not in (NormalizationStrategy.LOWERCASE, NormalizationStrategy.UPPERCASE):
        return name.lower()
    if strategy is NormalizationStrategy.UPPERCASE and name == name.upper():
        return name.lower()  # "ABC" is ABC is abc in an upper-folding dialect
    if strategy is NormalizationStrategy.LOWERCASE and name == name.lower():
        return name
    return name


def _ident(node: exp.Expr | str | None, strategy: NormalizationStrategy) -> str:
    if node is None:
        return ""
    if isinstance(node, str):
        return _fold(node, False, strategy)
    if isinstance(node, exp.Identifier):
        name = _fold(node.this, bool(node.args.get("quoted")), strategy)
        # T-SQL's #temp / ##global temp tables are not the permanent table of the same name
        if node.args.get("global_") or node.args.get("global"):
            return "##" + name
        return "#" + name if node.args.get("temporary") else name
    return _fold(node.name, False, strategy)


def table_fqn(table: exp.Table, dialect: str | Dialect | None = None) -> str:
    """``catalog.db.name`` of a table reference, identifiers normalised as ``dialect`` does."""
    strategy = _strategy(dialect)
    parts = []
    for key in ("catalog", "db", "this"):
        node = table.args.get(key)
        if node is None:
            continue
        if isinstance(node, exp.Dot):  # a dotted name kept in one node
            parts += [_ident(p, strategy) for p in node.parts]
            continue
        if isinstance(node, str):  # an empty part (``..t``, a template rendered to "") parses as ""
            name = _fold(node, False, strategy)
        elif isinstance(node, exp.Identifier):
            name = _ident(node, strategy)
        else:
            name = _fold(node.name, False, strategy)
        if name:
            parts.append(name)
    return ".".join(parts)


def _location(table: exp.Table) -> str | None:
    """The storage location a table reference names, if it names one rather than a table."""
    this = table.this
    if isinstance(this, exp.Literal) and this.is_string:
        return this.name
    if isinstance(this, exp.Identifier | exp.Var) and (this.name.startswith("@") or "://" in this.name):
        return this.name  # a Snowflake stage, a URI
    if isinstance(this, exp.Identifier) and this.quoted:
        name = this.this
        if "/" in name or "\\" in name or name.lower().endswith(_FILE_SUFFIXES):
            return name
        if table.db and table.db.lower() in _FILE_FORMATS:
            return name
    if isinstance(this, exp.Func):
        for lit in this.find_all(exp.Literal):
            if lit.is_string and ("/" in lit.name or lit.name.lower().endswith(_FILE_SUFFIXES)):
                return lit.name
    return None


def _is_table_function(table: exp.Table) -> bool:
    return isinstance(table.this, exp.Func | exp.Anonymous)


def _dialect(dialect: str | None) -> Dialect:
    return Dialect.get_or_raise(dialect)


def _unique(items: list) -> list:
    return list(dict.fromkeys(items))


# --- statement splitting -----------------------------------------------------------------------

def _word(tokens: list[Token], i: int) -> str:
    return tokens[i].text.upper() if 0 <= i < len(tokens) else ""


def _is_begin(tok: Token) -> bool:
    """``BEGIN`` (some dialects tokenize it as a command keyword)."""
    tt = tok.token_type
    if tt == TokenType.BEGIN:
        return True
    return tt in (TokenType.COMMAND, TokenType.VAR) and len(tok.text) == 5 and tok.text.upper() == "BEGIN"


_MAX_NESTING = 24  # deeper blocks / swallowed commands are read flat: bounded time, no recursion limit


def _unswallow(tokens: list[Token], d: Dialect, text: str, swallowers: set[int],
               depth: int = 0) -> list[Token]:
    """Re-tokenize text the tokenizer swallowed whole after a command keyword.

    After a keyword it treats as an opaque command (Redshift's ``UNLOAD``, T-SQL's ``END`` of
    ``END TRY``) sqlglot's tokenizer keeps the rest of the statement as one string token, which
    would hide statement and block boundaries (and the tables) inside it. The ids of those
    keywords go into ``swallowers``: a statement starting with one is an opaque command to the
    parser, so it is read from its tokens instead.
    """
    commands = d.tokenizer_class.COMMANDS
    out: list[Token] = []
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else None
        if (depth < _MAX_NESTING and prev is not None and tok.token_type == TokenType.STRING
                and (prev.token_type in commands or prev.token_type == TokenType.END)
                and tok.end - tok.start + 1 < len(tok.text) + 2):
            offset = text.find(tok.text, prev.end + 1)
            try:
                inner = d.tokenize(tok.text) if offset >= 0 else []
            except SqlglotError:
                inner = []
            if not inner:
                out.append(tok)
                continue
            for t in inner:  # positions in the whole text, so parsing and messages stay right
                t.line += prev.line - 1
                t.start += offset
                t.end += offset
            swallowers.add(id(prev))
            out += _unswallow(inner, d, text, swallowers, depth + 1)
        else:
            out.append(tok)
    return out


def _opens_block(tokens: list[Token], i: int) -> bool:
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    if nxt is None or nxt.token_type == TokenType.SEMICOLON:
        return False
    return nxt.text.upper() not in _TRANSACTION_WORDS


_DEPTH_TYPES = {TokenType.BEGIN, TokenType.CASE, TokenType.END, TokenType.COMMAND, TokenType.VAR}


class _Depth:
    """Nesting of BEGIN … END blocks and CASE … END expressions along a token stream."""

    def __init__(self) -> None:
        self.stack: list[str] = []

    def step(self, tokens: list[Token], i: int) -> None:
        tt = tokens[i].token_type
        if tt not in _DEPTH_TYPES:
            return
        if _is_begin(tokens[i]) and _opens_block(tokens, i):
            self.stack.append("begin")
        elif tt == TokenType.CASE:
            self.stack.append("case")
        elif tt == TokenType.END and self.stack and _word(tokens, i + 1) not in _END_OF_UNCOUNTED:
            self.stack.pop()


def _chunks(tokens: list[Token]) -> Iterator[list[Token]]:
    """Statements of a token stream: split at semicolons outside BEGIN … END blocks."""
    chunk: list[Token] = []
    depth = _Depth()
    for i, tok in enumerate(tokens):
        if tok.token_type == TokenType.SEMICOLON and not depth.stack:
            if chunk:
                yield chunk
            chunk = []
            continue
        depth.step(tokens, i)
        chunk.append(tok)
    if chunk:
        yield chunk


def _blocks(chunk: list[Token]) -> list[tuple[int, int]]:
    """(begin, end) token positions of the top-level BEGIN … END blocks of a statement."""
    if not any(_is_begin(t) for t in chunk):
        return []
    out = []
    depth = _Depth()
    start = None
    for i, tok in enumerate(chunk):
        before = len(depth.stack)
        depth.step(chunk, i)
        if before == 0 and depth.stack == ["begin"] and _is_begin(tok):
            start = i
        elif before == 1 and not depth.stack and start is not None:
            out.append((start, i))
            start = None
    if start is not None:  # never closed (a trailing GO, a truncated script): runs to the end
        out.append((start, len(chunk)))
    return out


def _strip_control(chunk: list[Token]) -> list[Token]:
    """The statement inside a procedural control line (``IF … THEN stmt``, ``ELSE stmt``,
    ``WHILE … LOOP stmt``); nothing for a bare ``END IF`` / ``END LOOP``."""
    start = 0
    while start < len(chunk):
        first = _word(chunk, start)
        if first == "END" and len(chunk) - start <= 2:
            return []
        if first in ("ELSE", "LOOP"):
            start += 1
            continue
        if first in ("IF", "ELSIF", "ELSEIF", "WHILE", "FOR"):
            words = (_word(chunk, i) for i in range(start, len(chunk)))
            nxt = next((start + k for k, w in enumerate(words) if w in ("THEN", "LOOP", "DO")), None)
            if nxt is not None:
                start = nxt + 1
                continue
        break
    return chunk[start:]


def _tables_from_tokens(tokens: list[Token], dialect: str | None = None) -> tuple[list[str], list[str]]:
    """Table-level fallback for a statement the parser rejected.

    A name after FROM / JOIN (past opening brackets, and each of a comma-separated list) is read,
    one after INTO / UPDATE / TABLE (past IF [NOT] EXISTS) is written; CTE names and SELECT …
    INTO variable lists are not tables.
    """
    strategy = _strategy(dialect)
    ctes = _cte_names(tokens, strategy)
    reads: list[str] = []
    writes: list[str] = []
    aliases: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        tt = tokens[i].token_type
        read = tt in _READ_AFTER or tokens[i].text.upper() == "CLONE"
        if not (read or tt in _WRITE_AFTER) or i + 1 >= len(tokens):
            i += 1
            continue
        j = i + 1
        while read and j < len(tokens) and tokens[j].token_type == TokenType.L_PAREN:
            j += 1
        while not read and _word(tokens, j) in ("IF", "NOT", "EXISTS"):
            j += 1
        j, name = _dotted_name(tokens, j, strategy)
        if not read and tt == TokenType.INTO and j < len(tokens) and tokens[j].token_type == TokenType.COMMA:
            name = ""  # SELECT … INTO var1, var2: variables
        names = [name] if name else []
        while read and names:  # FROM a x, b AS y, c
            k = j
            if k < len(tokens) and tokens[k].token_type == TokenType.ALIAS:
                k += 1
            if k < len(tokens) and tokens[k].token_type in _NAME_TOKENS:
                quoted = tokens[k].token_type == TokenType.IDENTIFIER
                aliases[_fold(tokens[k].text, quoted, strategy)] = names[-1]
                k += 1
            if k + 1 < len(tokens) and tokens[k].token_type == TokenType.COMMA and _is_name(tokens, k + 1):
                j, more = _dotted_name(tokens, k + 1, strategy)
                names.append(more)
                continue
            break
        for n in names:
            if n not in ctes:
                (reads if read else writes).append(n)
        i = max(j, i + 1)
    # T-SQL UPDATE alias … FROM table AS alias: the alias stands for the table written
    writes = [aliases.get(w, w) for w in writes]
    self_joined = {t for t in aliases.values() if list(aliases.values()).count(t) > 1}
    reads = [r for r in reads if r not in writes or r in self_joined]
    return _unique(reads), _unique(writes)


def _cte_names(tokens: list[Token], strategy: NormalizationStrategy) -> set[str]:
    """Names defined as ``name [(cols)] AS (`` right after WITH [RECURSIVE] or a comma."""
    names = set()
    for i, tok in enumerate(tokens):
        if tok.token_type not in (TokenType.WITH, TokenType.COMMA) or i + 1 >= len(tokens):
            continue
        j = i + 2 if _word(tokens, i + 1) == "RECURSIVE" else i + 1
        j, name = _dotted_name(tokens, j, strategy)
        if j < len(tokens) and tokens[j].token_type == TokenType.L_PAREN:  # declared columns
            depth = 0
            while j < len(tokens):
                depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(tokens[j].token_type, 0)
                j += 1
                if depth == 0:
                    break
        if name and _word(tokens, j) == "AS" and j + 1 < len(tokens) \
                and tokens[j + 1].token_type == TokenType.L_PAREN:
            names.add(name)
    return names


def _dotted_name(tokens: list[Token], j: int, strategy: NormalizationStrategy) -> tuple[int, str]:
    parts = []
    while j < len(tokens) and _is_name(tokens, j):
        tok = tokens[j]
        parts.append(_fold(tok.text, tok.token_type == TokenType.IDENTIFIER, strategy))
        if j + 1 < len(tokens) and tokens[j + 1].token_type == TokenType.DOT:
            j += 2
        else:
            j += 1
            break
    return j, ".".join(parts)


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


# --- what a statement does to relations --------------------------------------------------------

def _write_target(stmt: exp.Expr) -> exp.Table | None:
    """The table a statement writes, if it writes one."""
    if isinstance(stmt, exp.Create):
        props = stmt.args.get("properties")
        to = props.find(exp.ToTableProperty) if props is not None else None
        if to is not None and isinstance(to.this, exp.Table):
            return to.this  # MATERIALIZED VIEW … TO t: the view is a trigger, t holds the rows
    if isinstance(stmt, exp.Insert | exp.Create | exp.Update | exp.Merge | exp.Copy | exp.LoadData):
        target = stmt.this
        if isinstance(target, exp.Schema):
            target = target.this
        if isinstance(target, exp.Table) and _location(target) is None:
            return target
    into = stmt.find(exp.Into) if isinstance(stmt, exp.Query) else None
    if into is not None and isinstance(into.this, exp.Table):
        return into.this
    return None


def _update_alias_target(stmt: exp.Update, target: exp.Table) -> exp.Table:
    """T-SQL ``UPDATE alias SET … FROM real_table AS alias`` writes the aliased table."""
    if target.db or target.args.get("alias") is not None:
        return target
    for table in stmt.find_all(exp.Table):
        if table is not target and table.alias and table.alias.lower() == target.name.lower():
            return table
    return target


def _kind(stmt: exp.Expr) -> str:
    if isinstance(stmt, exp.Create):
        return f"create_{str(stmt.args.get('kind') or 'table').lower()}"
    return stmt.key


def describe_statement(stmt: exp.Expr, index: int = 0, line: int = 1,
                       dialect: str | Dialect | None = None) -> StatementInfo:
    """Tables read and written, locations, effects and CTE names of one parsed statement."""
    info = StatementInfo(index=index, kind=_kind(stmt), line=line)
    if isinstance(stmt, (*_UTILITY_TYPES, exp.Command)):
        return info
    if isinstance(stmt, exp.Drop):
        if str(stmt.args.get("kind") or "").upper() in _RELATION_KINDS:
            tables = stmt.args.get("tables") or ([stmt.this] if isinstance(stmt.this, exp.Table) else [])
            info.effects = [("drops", table_fqn(t, dialect)) for t in tables if isinstance(t, exp.Table)]
        return info
    if isinstance(stmt, exp.TruncateTable):
        info.effects = [("truncates", table_fqn(t, dialect)) for t in stmt.expressions
                        if isinstance(t, exp.Table)]
        return info
    if isinstance(stmt, exp.Alter):
        return _describe_alter(stmt, info, dialect)
    if isinstance(stmt, exp.Create) and str(stmt.args.get("kind") or "TABLE").upper() not in _RELATION_KINDS:
        return info  # CREATE FUNCTION / PROCEDURE / SCHEMA / INDEX / ...: no table lineage
    if isinstance(stmt, exp.Delete):
        target = stmt.this if isinstance(stmt.this, exp.Table) else None
        if target is not None:
            info.effects = [("deletes", table_fqn(target, dialect))]
        info.reads, info.read_locations, info.ctes = _reads(stmt, {id(target)}, dialect)
        return info
    if type(stmt).__name__ == "Export":  # BigQuery EXPORT DATA OPTIONS(uri=…) AS query
        info.reads, info.read_locations, info.ctes = _reads(stmt, set(), dialect)
        opts = stmt.args.get("options")
        info.write_locations = [p.args["value"].name for p in (opts.expressions if opts is not None else [])
                                if isinstance(p, exp.Property) and p.name.lower() == "uri"
                                and isinstance(p.args.get("value"), exp.Literal)]
        return info
    if type(stmt).__name__ == "MultitableInserts":  # Hive FROM … INSERT … INSERT …, INSERT ALL
        targets = [t for t in (_write_target(i) for i in stmt.find_all(exp.Insert)) if t is not None]
        info.writes = _unique([table_fqn(t, dialect) for t in targets])
        info.reads, info.read_locations, info.ctes = _reads(stmt, {id(t) for t in targets}, dialect)
        return info
    if not isinstance(stmt, exp.Query | exp.Insert | exp.Create | exp.Update | exp.Merge | exp.Copy
                      | exp.LoadData):
        return info
    target = _write_target(stmt)
    if isinstance(stmt, exp.Update) and target is not None:
        target = _update_alias_target(stmt, target)
    skip = {id(target), id(stmt.this)} if target is not None else set()
    if isinstance(stmt, exp.Update) and target is not None:  # UPDATE t … FROM t JOIN …: t is the target
        fqn = table_fqn(target, dialect)
        skip |= {id(t) for t in stmt.find_all(exp.Table)
                 if table_fqn(t, dialect) == fqn and t.alias_or_name == target.alias_or_name}
    if isinstance(stmt, exp.Create) and target is not None and target is not _create_this(stmt):
        skip.add(id(_create_this(stmt)))  # the MATERIALIZED VIEW … TO's own name
    if target is not None:
        info.writes = [table_fqn(target, dialect)]
    info.reads, info.read_locations, info.ctes = _reads(stmt, skip, dialect)
    if isinstance(stmt, exp.Insert) and isinstance(stmt.this, exp.Directory):
        info.write_locations = [stmt.this.this.name] if isinstance(stmt.this.this, exp.Literal) else []
    if isinstance(stmt, exp.Copy | exp.LoadData):
        _describe_copy(stmt, info, dialect)
    return info


def _create_this(stmt: exp.Create) -> exp.Expr | None:
    this = stmt.this
    return this.this if isinstance(this, exp.Schema) else this


def _describe_alter(stmt: exp.Alter, info: StatementInfo, dialect) -> StatementInfo:
    if not isinstance(stmt.this, exp.Table):
        return info
    name = table_fqn(stmt.this, dialect)
    query = next((a for a in stmt.args.get("actions") or [] if isinstance(a, exp.Query)), None)
    if query is not None:  # ALTER VIEW v AS SELECT …: a new definition, read like CREATE VIEW
        info.writes = [name]
        info.reads, info.read_locations, info.ctes = _reads(query, set(), dialect)
        return info
    for action in stmt.args.get("actions") or []:
        if isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table):
            info.renames.append((name, table_fqn(action.this, dialect)))
        elif type(action).__name__ == "SwapTable" and isinstance(action.this, exp.Table):
            info.reads.append(table_fqn(action.this, dialect))  # SWAP WITH: the other's rows come in
            info.writes = [name]
    if not info.renames and not info.writes:
        info.effects = [("alters", name)]
    return info


def _describe_copy(stmt: exp.Copy | exp.LoadData, info: StatementInfo, dialect) -> None:
    """COPY / LOAD DATA: rows move between a table and files (or a query), either way round."""
    sources: list[str] = []  # locations on the "files" side
    for f in stmt.args.get("files") or ([stmt.args["inpath"]] if stmt.args.get("inpath") else []):
        if isinstance(f, exp.Literal) and f.is_string:
            sources.append(f.name)
        elif isinstance(f, exp.Table) and _location(f) is not None:
            sources.append(_location(f))
    this = stmt.this
    this_loc = _location(this) if isinstance(this, exp.Table) else None
    unload = this_loc is not None or (isinstance(stmt, exp.Copy) and not stmt.args.get("kind"))
    if unload:  # COPY INTO 's3://…' FROM t, COPY t TO 'file': the table or query is read
        info.writes = []
        info.write_locations = [this_loc] if this_loc is not None else sources
        info.read_locations = [loc for loc in info.read_locations if loc not in info.write_locations]
        if this_loc is None and isinstance(this, exp.Table):
            info.reads = _unique([table_fqn(this, dialect), *info.reads])
        return
    info.read_locations = _unique([*info.read_locations, *sources])
    info.reads = [r for r in info.reads if r not in info.writes]


def _reads(stmt: exp.Expr, skip: set[int], dialect) -> tuple[list[str], list[str], list[str]]:
    ctes = [_ident(c.args["alias"].this if c.args.get("alias") else c.alias, _strategy(dialect))
            for c in stmt.find_all(exp.CTE)]
    cte_set = set(ctes)
    reads, locations = [], []
    for table in stmt.find_all(exp.Table):
        if id(table) in skip:
            continue
        loc = _location(table)
        if loc is not None:
            locations.append(loc)
            continue
        if _is_table_function(table) or not table.name:
            continue
        if table.find_ancestor(exp.Reference, exp.ForeignKey) is not None:
            continue  # a constraint names a table; no rows are read from it
        fqn = table_fqn(table, dialect)
        if not table.db and fqn in cte_set:
            continue
        reads.append(fqn)
    return _unique(reads), _unique(locations), _unique(ctes)


def _command_info(chunk: list[Token], index: int, dialect: str | None, parsed_error: str | None,
                  kind: str) -> StatementInfo:
    """Relations of a statement sqlglot kept as opaque text or could not parse, from its tokens."""
    strategy = _strategy(dialect)
    first = (_word(chunk, 0).split() or [""])[0]
    info = StatementInfo(index=index, kind=kind, line=chunk[0].line, parsed=parsed_error is None,
                         error=parsed_error)
    words = [t.text.upper() for t in chunk]
    if first == "RENAME" and len(chunk) > 2:  # RENAME TABLE a TO b[, c TO d]
        i = 2 if words[1] in ("TABLE", "TABLES") else 1
        while i < len(chunk):
            i, old = _dotted_name(chunk, i, strategy)
            if _word(chunk, i) != "TO":
                break
            i, new = _dotted_name(chunk, i + 1, strategy)
            if old and new:
                info.renames.append((old, new))
            i += 1  # the comma
        return info
    if first == "ALTER" and len(chunk) > 2 and words[1] == "TABLE":
        i, name = _dotted_name(chunk, 2, strategy)
        if "RENAME" in words[i:] and "TO" in words[i:]:
            _, new = _dotted_name(chunk, i + words[i:].index("TO") + 1, strategy)
            info.renames.append((name, new))
        elif "WITH" in words[i:] or "FROM" in words[i:]:
            # EXCHANGE PARTITION … WITH TABLE other, SWAP WITH other, (Redshift) APPEND FROM other
            j = i + words[i:].index("WITH" if "WITH" in words[i:] else "FROM") + 1
            j += words[j] == "TABLE" if j < len(words) else 0
            _, other = _dotted_name(chunk, j, strategy)
            info.reads, info.writes = ([other] if other else []), [name]
        elif name:
            info.effects = [("alters", name)]
        return info
    if first == "UNLOAD":  # Redshift: UNLOAD ('query') TO 'location'
        strings = [t for t in chunk if t.token_type == TokenType.STRING]
        if strings:
            inner = analyse_sql(strings[0].text, dialect, with_columns=False)
            info.reads = _unique([t for i in inner for t in i.reads])
        if len(strings) > 1:
            info.write_locations = [strings[1].text]
        return info
    if first in _UTILITY_WORDS or (first == "LOAD" and _word(chunk, 1) != "DATA"):
        return info
    info.reads, info.writes = _tables_from_tokens(chunk, dialect)
    for i, tok in enumerate(chunk[1:], 1):
        if tok.token_type == TokenType.STRING and ("/" in tok.text or "\\" in tok.text):
            if words[i - 1] in _READ_LOCATION_AFTER:
                info.read_locations.append(tok.text)
            elif words[i - 1] in _WRITE_LOCATION_AFTER:
                info.write_locations.append(tok.text)
    return info


# --- column lineage ----------------------------------------------------------------------------

class _Src:
    """One relation a SELECT reads: a table, a derived query, or a function's rows."""

    __slots__ = ("columns", "deps", "env", "query", "table")

    def __init__(self, table: str | None = None, query: exp.Expr | None = None, env: _Env | None = None,
                 columns: list[str] | None = None, deps: set[Dep] | None = None) -> None:
        self.table = table
        self.query = query
        self.env = env
        self.columns = columns or []
        self.deps = deps


class _Env:
    """Names visible at one point: CTEs, and for a SELECT its sources; ``parent`` is the outer one."""

    __slots__ = ("ctes", "parent", "sources", "using")

    def __init__(self, parent: _Env | None) -> None:
        self.parent = parent
        self.ctes: dict[str, tuple[exp.Expr, _Env, list[str]]] = {}
        self.sources: dict[str, _Src] = {}
        self.using: set[str] = set()

    def cte(self, name: str) -> tuple[exp.Expr, _Env, list[str]] | None:
        env: _Env | None = self
        while env is not None:
            if name in env.ctes:
                return env.ctes[name]
            env = env.parent
        return None


Outputs = list[tuple[str, set[Dep]]]


class _Resolver:
    def __init__(self, dialect: str | None, schema: Schema | None, inline: Mapping[str, exp.Expr] | None):
        self.dialect = dialect
        self.strategy = _strategy(dialect)
        self.schema = {k: list(v) for k, v in (schema or {}).items()}
        self.inline = dict(inline or {})
        self.cache: dict[int, Outputs | None] = {}
        self.busy: set = set()

    def name(self, node) -> str:
        return _ident(node, self.strategy)

    # relations -------------------------------------------------------------------------------
    def with_env(self, node: exp.Expr, env: _Env) -> _Env:
        w = node.args.get("with_") or node.args.get("with")
        if not isinstance(w, exp.With):
            return env
        new = _Env(env)
        for cte in w.expressions:
            alias = cte.args.get("alias")
            name = self.name(alias.this if alias is not None else cte.alias)
            cols = [self.name(c) for c in alias.columns] if alias is not None else []
            new.ctes[name] = (cte.this, new, cols)
        return new

    def outputs(self, q: exp.Expr, env: _Env) -> Outputs | None:
        key = id(q)
        if key in self.cache:
            return self.cache[key]
        if key in self.busy:  # a recursive CTE refers to itself
            return None
        self.busy.add(key)
        try:
            res = self._outputs(q, self.with_env(q, env))
        finally:
            self.busy.discard(key)
        self.cache[key] = res
        return res

    def _outputs(self, q: exp.Expr, env: _Env) -> Outputs | None:
        if isinstance(q, exp.Subquery | exp.Paren):
            return self.outputs(q.this, env)
        if isinstance(q, exp.SetOperation):
            left = self.outputs(q.this, env)
            right = self.outputs(q.expression, env)
            if left is None or right is None:
                return left or right
            merged = [(n, set(d)) for n, d in left]
            for i, (n, d) in enumerate(right):
                if i < len(merged):
                    merged[i][1].update(d)
                else:
                    merged.append((n, set(d)))
            return merged
        if isinstance(q, exp.Select):
            return self.select(q, env)
        return None

    def sources(self, node: exp.Expr, scope: _Env) -> None:
        frm = node.args.get("from_") or node.args.get("from")
        items: list[exp.Expr] = []
        if isinstance(frm, exp.From):
            items.append(frm.this)
            items += [j.this for j in frm.this.args.get("joins") or []]
        joins = node.args.get("joins") or []
        items += [j.this for j in joins]
        for j in [*joins, *(frm.this.args.get("joins") or [] if isinstance(frm, exp.From) else [])]:
            scope.using |= {self.name(u) for u in j.args.get("using") or []}
        items += node.args.get("laterals") or []
        for item in items:
            self.add_source(item, scope)

    def add_source(self, node: exp.Expr, scope: _Env) -> None:
        alias_node = node.args.get("alias")
        if not isinstance(alias_node, exp.TableAlias):
            alias_node = None
        alias = self.name(alias_node.this) if alias_node is not None and alias_node.this else ""
        declared = [self.name(c) for c in alias_node.columns] if alias_node is not None else []
        if isinstance(node, exp.Table):
            if _location(node) is not None:
                src = _Src(deps=set(), columns=declared)
                alias = alias or node.name
            elif _is_table_function(node):
                src = _Src(deps=self.expr_deps(node.this, scope, {}), columns=declared)
                alias = alias or node.this.name if hasattr(node.this, "name") else alias
            else:
                fqn = table_fqn(node, self.dialect)
                cte = scope.cte(fqn) if not node.db else None
                if cte is not None:
                    src = _Src(query=cte[0], env=cte[1], columns=declared or cte[2])
                elif fqn in self.inline:
                    src = _Src(query=self.inline[fqn], env=_Env(None), columns=declared)
                else:
                    src = _Src(table=fqn, columns=declared)
                alias = alias or self.name(node.this)
        elif isinstance(node, exp.Subquery | exp.Paren) \
                and not isinstance(node.unnest(), exp.Query | exp.Values):
            inner = node.unnest()  # FROM ((a JOIN b ON …)): the joined tables themselves
            self.add_source(inner, scope)
            for j in inner.args.get("joins") or []:
                scope.using |= {self.name(u) for u in j.args.get("using") or []}
                self.add_source(j.this, scope)
            return
        elif isinstance(node, exp.Subquery | exp.Values):
            src = _Src(query=node, env=scope, columns=declared)
        elif isinstance(node, exp.Lateral) and isinstance(node.this, exp.Subquery):
            src = _Src(query=node.this, env=scope, columns=declared)
        else:  # UNNEST, LATERAL VIEW explode, TABLE(generator()), ...: rows computed from arguments
            args = [a for a in node.iter_expressions() if not isinstance(a, exp.TableAlias)]
            deps: set[Dep] = set()
            for a in args:
                deps |= self.expr_deps(a, scope, {})
            src = _Src(deps=deps, columns=declared)
        scope.sources[alias or f"__source_{len(scope.sources)}"] = src

    def columns_of(self, src: _Src) -> Outputs | None:
        if src.table is not None:
            cols = self.schema.get(src.table)
            if cols is None:
                return None
            named = src.columns + cols[len(src.columns):] if src.columns else cols
            return [(n, {(src.table, c)}) for n, c in zip(named, cols, strict=False)]
        if src.query is not None:
            if isinstance(src.query, exp.Values):
                return [(c, set()) for c in src.columns] or None
            outs = self.outputs(src.query, src.env or _Env(None))
            if outs is None:
                return None
            if src.columns and all(n != "*" for n, _ in outs):
                return [(src.columns[i] if i < len(src.columns) else n, d) for i, (n, d) in enumerate(outs)]
            return outs
        return [(c, set(src.deps or ())) for c in src.columns] or None

    def star_rows(self, src: _Src) -> set[Dep]:
        """What ``*`` of a relation stands for when its columns are not known."""
        if src.table is not None:
            return {(src.table, "*")}
        if src.query is not None:
            return self.query_rows(src.query, src.env or _Env(None))
        return set(src.deps or ())

    def query_rows(self, q: exp.Expr, env: _Env) -> set[Dep]:
        """The ``*`` of the relations a query's rows come from (``count(*)`` over it)."""
        key = ("rows", id(q))
        if key in self.busy:
            return set()
        self.busy.add(key)
        try:
            env = self.with_env(q, env)
            if isinstance(q, exp.Subquery | exp.Paren):
                return self.query_rows(q.this, env)
            if isinstance(q, exp.SetOperation):
                return self.query_rows(q.this, env) | self.query_rows(q.expression, env)
            deps: set[Dep] = set()
            if isinstance(q, exp.Select):
                scope = _Env(env)
                self.sources(q, scope)
                for src in scope.sources.values():
                    deps |= self.star_rows(src)
            return deps
        finally:
            self.busy.discard(key)

    def col_deps(self, src: _Src, name: str) -> set[Dep] | None:
        """Upstream of column ``name`` of ``src``; None when ``src`` has no such column."""
        if src.table is not None:
            cols = self.schema.get(src.table)
            if src.columns:
                if name not in src.columns:
                    return None
                pos = src.columns.index(name)
                return {(src.table, cols[pos] if cols and pos < len(cols) else name)}
            if cols is not None and name not in cols:
                return None
            return {(src.table, name)}
        if src.query is not None:
            outs = self.columns_of(src)
            if outs is None:
                return set()
            found = [d for n, d in outs if n == name]
            if found:
                return set().union(*found)
            stars = [d for n, d in outs if n == "*"]
            if stars:
                return {(t, name if c == "*" else c) for d in stars for t, c in d}
            return None
        if src.columns and name not in src.columns:
            return None
        return set(src.deps or ())

    def has(self, src: _Src, name: str) -> bool | None:
        if src.table is not None:
            if src.columns:
                return name in src.columns
            cols = self.schema.get(src.table)
            return None if cols is None else name in cols
        if src.query is not None:
            outs = self.columns_of(src)
            if outs is None:
                return None
            names = {n for n, _ in outs}
            return True if name in names else (None if "*" in names else False)
        return (name in src.columns) if src.columns else None

    # expressions -----------------------------------------------------------------------------
    def select(self, sel: exp.Select, env: _Env) -> Outputs:
        scope = _Env(env)
        self.sources(sel, scope)
        outs: Outputs = []
        aliases: dict[str, set[Dep]] = {}
        for e in sel.expressions:
            if isinstance(e, exp.Star):
                outs += self.star_modified(e, self.star(scope, None), scope)
                continue
            if isinstance(e, exp.Column) and isinstance(e.this, exp.Star):
                outs += self.star_modified(e.this, self.star(scope, self.name(e.args.get("table"))), scope)
                continue
            if isinstance(e, exp.Alias):
                name, expr = self.name(e.args.get("alias")), e.this
            elif isinstance(e, exp.Column):
                name, expr = self.name(e.this), e
            else:
                name, expr = e.sql(dialect=self.dialect), e
            deps = self.expr_deps(expr, scope, aliases)
            outs.append((name, deps))
            aliases.setdefault(name, deps)
        return outs

    def star(self, scope: _Env, qualifier: str | None) -> Outputs:
        if qualifier:
            src = self.find_source(scope, qualifier)
            srcs = [src] if src is not None else []
        else:
            srcs = list(scope.sources.values())
        outs: Outputs = []
        for src in srcs:
            cols = self.columns_of(src)
            if cols is None:
                rows = self.star_rows(src)
                if rows:
                    outs.append(("*", rows))
            else:
                outs += [(n, set(d)) for n, d in cols]
        return outs

    def star_modified(self, star: exp.Star, outs: Outputs, scope: _Env) -> Outputs:
        """``* EXCEPT (a)`` / ``* EXCLUDE (a)`` drop columns, ``* REPLACE (expr AS b)`` recomputes b."""
        drop = {self.name(c.this if isinstance(c, exp.Column) else c)
                for c in star.args.get("except_") or star.args.get("except") or []}
        replace = {}
        for r in star.args.get("replace") or []:
            if isinstance(r, exp.Alias):
                replace[self.name(r.args.get("alias"))] = self.expr_deps(r.this, scope, {})
        if not drop and not replace:
            return outs
        return [(n, replace.get(n, d)) for n, d in outs if n not in drop]

    def find_source(self, scope: _Env, qualifier: str) -> _Src | None:
        env: _Env | None = scope
        while env is not None:
            if qualifier in env.sources:
                return env.sources[qualifier]
            for src in env.sources.values():  # qualified by the table's own name despite an alias
                if src.table and (src.table == qualifier or src.table.endswith("." + qualifier)):
                    return src
            env = env.parent
        return None

    def expr_deps(self, expr: exp.Expr, scope: _Env, aliases: dict[str, set[Dep]],
                  bound: frozenset[str] = frozenset()) -> set[Dep]:
        deps: set[Dep] = set()
        stack = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, exp.Column):
                if isinstance(node.this, exp.Star):
                    src = self.find_source(scope, self.name(node.args.get("table")))
                    deps |= self.star_rows(src) if src is not None else set()
                elif not (not node.table and self.name(node.this) in bound):
                    deps |= self.resolve(node, scope, aliases)
                continue
            if isinstance(node, exp.Star):
                for src in scope.sources.values():
                    deps |= self.star_rows(src)
                continue
            if isinstance(node, exp.Query):  # scalar subquery, EXISTS, IN (…): sees the outer scope
                for _, d in self.outputs(node, scope) or []:
                    deps |= d
                continue
            if isinstance(node, exp.Lambda):
                names = frozenset(self.name(v) for v in node.expressions)
                deps |= self.expr_deps(node.this, scope, aliases, bound | names)
                continue
            stack.extend(node.iter_expressions())
        return deps

    def resolve(self, col: exp.Column, scope: _Env, aliases: dict[str, set[Dep]]) -> set[Dep]:
        name = self.name(col.this)
        if col.table:
            parts = [self.name(col.args.get(k)) for k in ("catalog", "db", "table") if col.args.get(k)]
            src = self.find_source(scope, ".".join(parts)) or self.find_source(scope, parts[-1])
            if src is None:  # a struct field: ``t.col.field`` or ``col.field``
                for i, part in enumerate(parts[:-1]):
                    src = self.find_source(scope, part)
                    if src is not None:
                        deps = self.col_deps(src, parts[i + 1])
                        return deps if deps is not None else set()
                return self.resolve(exp.column(parts[0], quoted=False), scope, aliases)
            deps = self.col_deps(src, name)
            return deps if deps is not None else ({(src.table, name)} if src.table else set())
        env: _Env | None = scope
        while env is not None:
            srcs = list(env.sources.values())
            if srcs:
                verdicts = [(s, self.has(s, name)) for s in srcs]
                yes = [s for s, v in verdicts if v]
                maybe = [s for s, v in verdicts if v is None]
                if name in env.using and len(yes) + len(maybe) > 1:
                    return set().union(*(self.col_deps(s, name) or set() for s in yes + maybe))
                if len(yes) == 1 or (len(yes) > 1 and name in env.using):
                    return set().union(*(self.col_deps(s, name) or set() for s in yes))
                if len(yes) > 1:
                    return {(None, name)}
                if len(maybe) == 1:
                    return self.col_deps(maybe[0], name) or set()
                if maybe:
                    return {(None, name)}
            if env is scope and name in aliases:  # a lateral reference to an earlier output
                return set(aliases[name])
            env = env.parent
        return {(None, name)}

    # statements ------------------------------------------------------------------------------
    def statement(self, stmt: exp.Expr, target_columns: list[str] | None) -> Outputs | None:
        env = self.with_env(stmt, _Env(None))
        if isinstance(stmt, exp.Merge):
            return self.merge(stmt, env)
        if isinstance(stmt, exp.Update):
            return self.update(stmt, env)
        query = stmt if isinstance(stmt, exp.Query) else stmt.expression
        if not isinstance(query, exp.Query):
            return None
        outs = self.outputs(query, env)
        if outs is None:
            return None
        if target_columns and len(target_columns) == len(outs) and all(n != "*" for n, _ in outs):
            return [(t, d) for t, (_, d) in zip(target_columns, outs, strict=True)]
        return outs

    def assigned(self, scope: _Env, pairs: list[tuple[exp.Expr, exp.Expr]]) -> Outputs:
        outs: Outputs = []
        for column, value in pairs:
            name = self.name(column.this if isinstance(column, exp.Column) else column)
            outs.append((name, self.expr_deps(value, scope, {})))
        return outs

    def merge(self, stmt: exp.Merge, env: _Env) -> Outputs:
        scope = _Env(env)
        self.add_source(stmt.this, scope)
        using = stmt.args.get("using")
        source_only = _Env(env)  # WHEN NOT MATCHED … INSERT: no target row exists to refer to
        if using is not None:
            self.add_source(using, scope)
            self.add_source(using, source_only)
        outs: Outputs = []
        whens = stmt.args.get("whens")
        for when in (whens.expressions if whens is not None else stmt.args.get("expressions") or []):
            then = when.args.get("then")
            if isinstance(then, exp.Update):
                outs += self.assigned(scope, [(eq.this, eq.expression) for eq in then.expressions
                                              if isinstance(eq, exp.EQ)])
            elif isinstance(then, exp.Insert):
                cols, vals = then.this, then.expression
                if isinstance(cols, exp.Tuple | exp.Schema) and isinstance(vals, exp.Tuple):
                    pairs = list(zip(cols.expressions, vals.expressions, strict=False))
                    outs += self.assigned(source_only, pairs)
        return _merge_outputs(outs)

    def update(self, stmt: exp.Update, env: _Env) -> Outputs:
        scope = _Env(env)
        target = stmt.this
        if isinstance(target, exp.Table):
            self.add_source(target, scope)
        self.sources(stmt, scope)
        pairs = [(eq.this, eq.expression) for eq in stmt.expressions if isinstance(eq, exp.EQ)]
        return _merge_outputs(self.assigned(scope, pairs))


def _merge_outputs(outs: Outputs) -> Outputs:
    merged: dict[str, set[Dep]] = {}
    for name, deps in outs:
        merged.setdefault(name, set()).update(deps)
    return list(merged.items())


def _split_deps(outs: Outputs) -> tuple[dict[str, list[tuple[str, str]]], dict[str, list[str]]]:
    columns: dict[str, list[tuple[str, str]]] = {}
    unresolved: dict[str, list[str]] = {}
    for name, deps in outs:
        resolved = sorted((t, c) for t, c in deps if t is not None)
        columns[name] = sorted(set(resolved) | set(columns.get(name, [])))
        loose = sorted({c for t, c in deps if t is None})
        if loose:
            unresolved[name] = loose
    return columns, unresolved


def column_lineage(query: exp.Query, dialect: str | None, schema: Schema | None = None,
                   sources: Mapping[str, exp.Query] | None = None,
                   copy: bool = True) -> dict[str, list[tuple[str, str]]]:
    """Map each output column of ``query`` to the (table, column) pairs it is computed from.

    ``*`` expands when ``schema`` knows the upstream columns (else a ``*`` column); ``sources``
    inlines relations that exist only as queries (dbt's ephemeral models). The tree is not
    modified, so ``copy`` is accepted for compatibility only.
    """
    outs = _Resolver(dialect, schema, sources).statement(query, None) or []
    return _split_deps(outs)[0]


def _target_columns(stmt: exp.Expr, target: str | None, schema: Schema, dialect) -> list[str] | None:
    """Column names the statement's output maps onto positionally, when it declares or implies them."""
    strategy = _strategy(dialect)
    declared = stmt.this.expressions if isinstance(stmt.this, exp.Schema) else []
    if isinstance(stmt, exp.Insert | exp.Create) and declared:
        return [_ident(c.this if isinstance(c, exp.ColumnDef) else c, strategy) for c in declared]
    if isinstance(stmt, exp.Insert) and target and target in schema:
        static = set()
        part = stmt.this.args.get("partition") if isinstance(stmt.this, exp.Table) else None
        for e in (part.expressions if part is not None else []):
            if isinstance(e, exp.EQ):
                static.add(_ident(e.this.this if isinstance(e.this, exp.Column) else e.this, strategy))
        return [c for c in schema[target] if c not in static]
    return None


def add_column_lineage(info: StatementInfo, stmt: exp.Expr, dialect: str | None, schema: Schema,
                       sources: Mapping[str, exp.Query] | None = None, copy: bool = True) -> None:
    """Fill ``info.columns`` (and ``info.unresolved``); the statement is never modified."""
    if isinstance(stmt, exp.Alter):  # ALTER VIEW v AS query
        query = next((a for a in stmt.args.get("actions") or [] if isinstance(a, exp.Query)), None)
        if query is None:
            return
        stmt = query
    if not isinstance(stmt, exp.Query | exp.Insert | exp.Create | exp.Update | exp.Merge):
        return
    if isinstance(stmt, exp.Create) and not isinstance(stmt.expression, exp.Query):
        return
    try:
        resolver = _Resolver(dialect, schema, sources)
        outs = resolver.statement(stmt, _target_columns(stmt, info.target, schema, dialect))
    except RecursionError as exc:  # absurdly deep SQL: tables read/written stand without it
        info.lineage_error = f"{type(exc).__name__}: {exc}"[:300]
        return
    if outs is None:
        return
    info.columns, info.unresolved = _split_deps(outs)


# --- files -------------------------------------------------------------------------------------

class _Run:
    def __init__(self, text: str, dialect: str | None, schema: Schema | None,
                 check: Callable[[], None] | None, with_columns: bool) -> None:
        self.text = text
        self.dialect = dialect
        self.d = _dialect(dialect)
        self.known: dict[str, dict[str, str]] = {k: dict(v) for k, v in (schema or {}).items()}
        self.check = check
        self.with_columns = with_columns
        self.out: list[StatementInfo] = []
        self.swallowers: set[int] = set()

    def statements(self, tokens: list[Token], block: int | None, depth: int = 0) -> None:
        for chunk in _chunks(tokens):
            if self.check is not None:
                self.check()
            blocks = _blocks(chunk) if depth < _MAX_NESTING else []
            if blocks:
                self.block(chunk, blocks, block, depth)
            else:
                self.one(chunk, block)

    def block(self, chunk: list[Token], blocks: list[tuple[int, int]], parent: int | None,
              depth: int = 0) -> None:
        header = [t.text.upper() for t in chunk[:blocks[0][0]]]
        kind = "block"
        if header and header[0] in ("CREATE", "ALTER", "REPLACE"):
            for word in ("PROCEDURE", "PROC", "FUNCTION", "TRIGGER", "PACKAGE"):
                if word in header:
                    kind = f"create_{'procedure' if word == 'PROC' else word.lower()}"
                    break
        index = len(self.out)
        self.out.append(StatementInfo(index=index, kind=kind, line=chunk[0].line, block=parent))
        for start, end in blocks:
            if _word(chunk, start + 1) in ("TRY", "CATCH", "ATOMIC"):  # T-SQL's BEGIN TRY, BEGIN ATOMIC
                start += 1
            self.statements(chunk[start + 1:end], index, depth + 1)

    def one(self, chunk: list[Token], block: int | None) -> None:
        chunk = _strip_control(chunk)
        if not chunk:
            return
        index = len(self.out)
        line = chunk[0].line
        try:
            if id(chunk[0]) in self.swallowers:
                stmt = exp.Command(this=chunk[0].text)
            else:
                parsed = self.d.parser().parse(chunk, self.text)
                stmt = parsed[0] if parsed else None
        except Exception as exc:  # sqlglot errors, and its rare internal bugs on odd input
            pieces = self.unterminated(chunk)
            if len(pieces) > 1:  # T-SQL style: statements one after another without semicolons
                for piece in pieces:
                    self.one(piece, block)
                return
            message = (str(exc).splitlines() or [""])[0][:300]
            if not isinstance(exc, SqlglotError):
                message = f"{type(exc).__name__}: {message}"
            first = (_word(chunk, 0).split() or [""])[0]
            if first in _UTILITY_WORDS:  # nothing to lose: such statements never carry lineage
                self.out.append(StatementInfo(index=index, kind=first.lower(), line=line, parsed=False,
                                              block=block))
                return
            info = _command_info(chunk, index, self.dialect, message or type(exc).__name__, "unparsed")
            info.block = block
            self.out.append(info)
            return
        if stmt is None:
            return
        if isinstance(stmt, exp.Command) and _word(chunk, 0) == "DO":  # PostgreSQL anonymous block
            self.out.append(StatementInfo(index=index, kind="do", line=line, block=block))
            body = next((t for t in chunk[1:] if t.token_type in _BODY_STRINGS), None)
            if body is not None:
                self.nested(body.text, index, body.line)
            return
        if isinstance(stmt, exp.Command):  # syntax sqlglot keeps only as opaque text
            first = (_word(chunk, 0).split() or [""])[0]
            known = first in _UTILITY_WORDS or first in ("RENAME", "ALTER", "UNLOAD")
            info = _command_info(chunk, index, self.dialect,
                                 None if known else f"unsupported syntax: {stmt.name} kept as a command",
                                 first.lower() if known else "command")
            info.block = block
            self.out.append(info)
            return
        info = describe_statement(stmt, index, line, self.dialect)
        info.block = block
        if self.with_columns:
            add_column_lineage(info, stmt, self.dialect, self.known)
        self.remember(info, stmt)
        self.out.append(info)
        body = _routine_body(stmt)
        if body is not None:
            self.nested(body, index, line)

    def nested(self, body: str, block: int, line: int) -> None:
        """Statements of a routine body held in a string (``AS $$ … $$``), under ``block``."""
        sub = _Run(body, self.dialect, None, self.check, self.with_columns)
        sub.out, sub.known = self.out, self.known
        try:
            tokens = _unswallow(sub.d.tokenize(body), sub.d, body, sub.swallowers)
        except SqlglotError:
            return
        for t in tokens:
            t.line += line - 1
        sub.statements(tokens, block)

    def unterminated(self, chunk: list[Token]) -> list[list[Token]]:
        """Split a statement that failed to parse where another statement visibly starts.

        Only at a keyword that cannot continue the statement before it, outside brackets, and
        only when the part before it parses on its own; otherwise the chunk stays whole.
        """
        depth = 0
        cuts = []
        for i, tok in enumerate(chunk):
            tt = tok.token_type
            depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(tt, 0)
            if i and depth == 0 and tt in _STATEMENT_STARTS and _word(chunk, i - 1) not in _CONTINUES \
                    and chunk[i - 1].token_type not in (TokenType.COMMA, TokenType.L_PAREN):
                cuts.append(i)
        if not cuts:
            return [chunk]
        try:
            self.d.parser().parse(chunk[:cuts[0]], self.text)
        except Exception:  # the first part does not stand alone: no split
            return [chunk]
        bounds = [0, *cuts, len(chunk)]
        return [chunk[a:b] for a, b in itertools.pairwise(bounds) if b > a]

    def remember(self, info: StatementInfo, stmt: exp.Expr) -> None:
        """A CREATE defines its table's columns for later statements of the same text."""
        for old, new in info.renames:
            if old in self.known:
                self.known[new] = self.known.pop(old)
        for table in info.drops:
            self.known.pop(table, None)
        if not isinstance(stmt, exp.Create) or not info.target:
            return
        if info.columns and "*" not in info.columns:
            self.known[info.target] = dict.fromkeys(info.columns, "unknown")
        elif isinstance(stmt.this, exp.Schema):
            strategy = _strategy(self.dialect)
            cols = {_ident(c.this, strategy): (c.args["kind"].sql() if c.args.get("kind") else "unknown")
                    for c in stmt.this.expressions if isinstance(c, exp.ColumnDef)}
            if cols:
                self.known[info.target] = cols


_STATEMENT_STARTS = {TokenType.INSERT, TokenType.UPDATE, TokenType.DELETE, TokenType.MERGE, TokenType.CREATE,
                     TokenType.DROP, TokenType.TRUNCATE, TokenType.ALTER, TokenType.DECLARE, TokenType.USE,
                     TokenType.EXECUTE}
_CONTINUES = {"ON", "THEN", "OF", "FOR", "AFTER", "BEFORE", "OR", "INSTEAD", "AS", "WHEN", "ELSE", "DO",
              "NOT", "MATCHED", "BY", "WITH", "GRANT", "REVOKE", "IF", "IGNORE", "EACH"}
_BODY_STRINGS = {TokenType.STRING, TokenType.HEREDOC_STRING, TokenType.RAW_STRING}
_SQL_LANGUAGES = {"sql", "plpgsql", "plsql", "tsql", "snowflake", "sqlscript"}
_SQL_STARTS = {"BEGIN", "DECLARE", "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "CREATE",
               "TRUNCATE", "DROP", "CALL", "SET", "IF", "FOR", "LOOP", "WHILE", "RETURN"}


def _routine_body(stmt: exp.Expr) -> str | None:
    """The SQL text of a CREATE FUNCTION / PROCEDURE whose body is a string, when it is SQL."""
    if not isinstance(stmt, exp.Create) or str(stmt.args.get("kind") or "").upper() not in (
            "FUNCTION", "PROCEDURE"):
        return None
    body = stmt.expression
    if isinstance(body, exp.Block) and len(body.expressions) == 1:
        body = body.expressions[0]
    if not isinstance(body, exp.Literal | exp.Heredoc | exp.RawString) or not body.name.strip():
        return None
    props = stmt.args.get("properties")
    lang = props.find(exp.LanguageProperty) if props is not None else None
    if lang is not None:
        return body.name if lang.name.lower() in _SQL_LANGUAGES else None
    return body.name if body.name.split(None, 1)[0].upper().rstrip(";") in _SQL_STARTS else None


def analyse_sql(text: str, dialect: str | None = None, schema: Schema | None = None,
                check: Callable[[], None] | None = None, with_columns: bool = True) -> list[StatementInfo]:
    """Analyse every statement of ``text``.

    ``schema`` grows as the file's own DDL and CTAS statements are read, so a later statement's
    ``*`` can expand over a table created earlier in the same file. ``check`` is called between
    statements (the per-file time budget).
    """
    run = _Run(text, dialect, schema, check, with_columns)
    run.statements(_unswallow(run.d.tokenize(text), run.d, text, run.swallowers), None)
    return run.out


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
