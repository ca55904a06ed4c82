"""dbt analyzer: projects, packages, models, sources, seeds, snapshots, macros, tests and lineage.

Model SQL is rendered with Jinja in a ``SafeSandbox`` (Jinja's sandbox with bounded string and
list sizes, loop counts and output, :mod:`safe_jinja`) whose context imitates what
``dbt parse`` gives a model: ``ref``/``source``/``var``/``config``/``this`` record what the model
asks for and stand for relations by placeholder names; ``return()`` ends a macro with a value;
``statement`` blocks, ``load_result`` and ``run_query`` give empty results (``execute`` is false,
as while dbt parses); ``adapter.dispatch`` looks for ``<adapter>__name`` then ``default__name``
through the dispatch search order; macros come from the project and from its installed packages
(``dbt_packages/`` or ``packages-install-path``), and dbt's own cross-database macros
(``dbt.date_trunc``, ``dbt.type_string``...) are small stand-ins written here that emit portable
SQL. Nothing of the repository runs outside that sandbox, and nothing runs against a warehouse.

The macro namespace of a project and its packages (a "workspace") is built once per repository
snapshot and shared by all its models, each macro file compiled the first time one of its macros
is reached, so rendering stays linear in the number of models. The link step swaps placeholders
for real relations (or, for ephemeral models, inlines their SQL) and computes column lineage in
dependency order, giving each model only the relations it reads, so ``*`` expands over upstream
columns; a model that asked ``adapter.get_columns_in_relation`` is rendered once more there with
the upstream columns known by then. A model that still fails to render keeps the
``ref()``/``source()`` calls written in its Jinja syntax tree, as lower-confidence edges with a
diagnostic. ``profiles.yml`` is looked for where dbt looks, and its adapter picks the dialect.

Hostile projects cost themselves only: every YAML file (``dbt_project.yml``, ``profiles.yml``,
schema files, ``fromyaml``) is read by :func:`safe_yaml.safe_load`, which refuses alias bombs and
excessive depth; a macro file contributes its macro definitions only, its top-level code never
runs (as in dbt); and the link step isolates each model, so one model that breaks lineage is
recorded on that model while every other model keeps its edges.
"""

from __future__ import annotations

import csv
import datetime as _datetime
import hashlib
import io
import json
import os
import posixpath
import re as _re
import threading
import weakref
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import ChainableUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.ext import Extension
from jinja2.runtime import Macro
from sqlglot import exp
from sqlglot.errors import SqlglotError

from freshpoc_tasks.analysis import safe_yaml
from freshpoc_tasks.analysis.base import AnalysisError, Analyzer
from freshpoc_tasks.analysis.model import Budget, FileResult, LinkResult, RepoContext, SourceFile
from freshpoc_tasks.analysis.safe_jinja import JinjaBudgetExceeded, SafeSandbox
from freshpoc_tasks.analysis.sql import TableEmitter, dbt_project_root
from freshpoc_tasks.analysis.sqlcore import add_column_lineage, describe_statement, parse_one, table_fqn
from freshpoc_tasks.contracts.graph import Edge, Node

REF_PREFIX = "__dbt_ref__"
SRC_PREFIX = "__dbt_src__"
ADAPTER_DIALECTS = {
    "duckdb": "duckdb", "postgres": "postgres", "redshift": "redshift", "snowflake": "snowflake",
    "bigquery": "bigquery", "databricks": "databricks", "spark": "spark", "trino": "trino",
    "clickhouse": "clickhouse", "athena": "athena", "sqlserver": "tsql", "fabric": "tsql",
    "synapse": "tsql", "materialize": "postgres", "oracle": "oracle", "teradata": "teradata",
}
# Adapters that inherit macros of another adapter: dispatch tries these prefixes in order.
ADAPTER_PARENTS = {"redshift": ["postgres"], "databricks": ["spark"], "synapse": ["sqlserver"],
                   "fabric": ["sqlserver"], "materialize": ["postgres"]}
GENERIC_TESTS = ("unique", "not_null", "accepted_values", "relationships")
FALLBACK_CONFIDENCE = 0.6
PROFILE_DEFAULT_SCHEMA = "main"


class _RaiseError(Exception):
    """``exceptions.raise_compiler_error`` inside a template."""


class _MacroReturn(Exception):
    """``return(value)``: unwinds to the macro call boundary, which yields ``value``."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


class _Missing(ChainableUndefined):
    """Unknown names (macros of packages that are not installed) render empty and stay callable."""

    def __call__(self, *args: Any, **kwargs: Any) -> _Missing:
        return self

    def __str__(self) -> str:
        return ""


class _BlockTags(Extension):
    """dbt's ``{% snapshot x %}``, ``{% test x %}``, ``{% materialization x %}``, ``{% docs x %}``."""

    tags = {"snapshot", "test", "materialization", "docs", "data_test"}

    def parse(self, parser: Any) -> nodes.Node:
        token = next(parser.stream)
        tag = token.value
        lineno = token.lineno
        # Skip the block header (name, args, adapter=...) up to the block end.
        while parser.stream.current.type != "block_end":
            next(parser.stream)
        body = parser.parse_statements((f"name:end{tag}",), drop_needle=True)
        if tag == "snapshot":
            return nodes.Scope(body, lineno=lineno)
        return nodes.Output([], lineno=lineno)


class _DbtEnvironment(SafeSandbox):
    """The bounded sandbox, plus dbt's macro call boundary: ``return()`` inside a macro is its value.

    Every call a template makes passes through ``call``; catching the return signal there (and
    not in a wrapper object) also covers macros that call each other inside one file, which
    Jinja links directly without a namespace lookup.
    """

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(__obj, Macro):
            try:
                return super().call(__context, __obj, *args, **kwargs)
            except _MacroReturn as ret:
                return ret.value
        return super().call(__context, __obj, *args, **kwargs)


def _env() -> _DbtEnvironment:
    return _DbtEnvironment(undefined=_Missing, extensions=[_BlockTags, "jinja2.ext.do"], autoescape=False)


_PARSER = _env()  # parsing only: never renders, holds no context


def _parse(text: str) -> nodes.Template:
    try:
        return _PARSER.parse(text)
    except TemplateSyntaxError as exc:
        raise AnalysisError("jinja_syntax_error", exc.message or str(exc), exc.lineno) from None


def call_macro(macro: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a macro from Python with the same return semantics as a template call."""
    try:
        return macro(*args, **kwargs)
    except _MacroReturn as ret:
        return ret.value


# -- stand-ins for dbt's context ------------------------------------------------------------------

class _Relation(Mapping):  # type: ignore[type-arg]
    """A relation as dbt's macros see it (a mapping whose ``metadata.type`` ends in Relation).

    It renders as a placeholder name the link step replaces; attributes macros read
    (``identifier``, ``schema``, ``include()``, ``render()``...) answer without failing.
    """

    def __init__(self, placeholder: str, database: str | None = None, schema: str | None = None) -> None:
        self.placeholder = placeholder
        self.database = database
        self.schema = schema
        self.identifier = placeholder
        self.name = placeholder
        self.table = placeholder
        self.type = "table"
        self.is_table = True
        self.is_view = False
        self.is_cte = False
        self.metadata = {"type": "BaseRelation"}

    def _data(self) -> dict[str, Any]:
        return {"metadata": self.metadata, "database": self.database, "schema": self.schema,
                "identifier": self.identifier, "type": self.type,
                "path": {"database": self.database, "schema": self.schema, "identifier": self.identifier}}

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __str__(self) -> str:
        return self.placeholder

    def __hash__(self) -> int:
        return hash(self.placeholder)

    def __eq__(self, other: object) -> bool:
        return str(other) == self.placeholder

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Missing(name=name)

    def render(self) -> str:
        return self.placeholder

    def include(self, *args: Any, **kwargs: Any) -> _Relation:
        return self

    def incorporate(self, *args: Any, **kwargs: Any) -> _Relation:
        return self

    def quote(self, *args: Any, **kwargs: Any) -> _Relation:
        return self

    def replace_path(self, *args: Any, **kwargs: Any) -> _Relation:
        return self

    def without_identifier(self) -> _Relation:
        return self


class _EmptyColumn(list):  # type: ignore[type-arg]
    def values(self) -> list[Any]:
        return []


class _EmptyTable:
    """An agate table with no rows: what a query ``dbt parse`` never runs gives back."""

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.column_names: list[str] = []
        self.column_types: list[Any] = []

    @property
    def columns(self) -> _EmptyColumns:
        return _EmptyColumns()

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def print_table(self, *args: Any, **kwargs: Any) -> str:
        return ""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Missing(name=name)


class _EmptyColumns(list):  # type: ignore[type-arg]
    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        return _EmptyColumn()

    def values(self) -> list[Any]:
        return []


class _EmptyResult(dict):  # type: ignore[type-arg]
    """``load_result(name)``: a response, an empty table and no data."""

    def __init__(self) -> None:
        super().__init__(response=_Missing(name="response"), table=_EmptyTable(), data=[])

    def __getattr__(self, name: str) -> Any:
        if name in self:
            return self[name]
        if name.startswith("_"):
            raise AttributeError(name)
        return _Missing(name=name)


def _quote_char(dialect: str | None) -> str:
    return {"bigquery": "`", "databricks": "`", "spark": "`", "clickhouse": "`"}.get(dialect or "", '"')


class _Adapter:
    """``adapter``: dispatch through the macro namespace; catalog questions answer 'nothing'."""

    def __init__(self, runtime: _Runtime) -> None:
        self._runtime = runtime

    def dispatch(self, macro_name: str, macro_namespace: str | None = None, packages: Any = None) -> Any:
        return self._runtime.dispatch(str(macro_name), macro_namespace)

    def type(self) -> str:
        return self._runtime.workspace.adapter or "default"

    def quote(self, identifier: Any) -> str:
        q = _quote_char(self._runtime.workspace.dialect)
        return f"{q}{identifier}{q}"

    def quote_as_configured(self, identifier: Any, *args: Any) -> str:
        return str(identifier)

    def quote_seed_column(self, column: Any, *args: Any) -> str:
        return str(column)

    def get_relation(self, *args: Any, **kwargs: Any) -> None:
        return None

    def load_relation(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get_columns_in_relation(self, relation: Any = None, *args: Any, **kwargs: Any) -> list[Any]:
        """No warehouse: columns the link step already knows (upstream lineage, YAML), else none."""
        self._runtime.dyn["__introspected__"] = True
        catalog = self._runtime.dyn.get("__catalog__")
        return [_Column(c) for c in catalog(str(relation))] if catalog is not None else []

    def get_missing_columns(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def list_relations_without_caching(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def already_exists(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Missing(name=name)


class _Column:
    """A column as ``adapter.get_columns_in_relation`` gives it; the type is not known here."""

    def __init__(self, name: str) -> None:
        self.name = self.column = name
        self.data_type = self.dtype = "unknown"
        self.quoted = f'"{name}"'
        self.char_size = self.numeric_precision = self.numeric_scale = None

    def is_string(self) -> bool:
        return False

    def is_number(self) -> bool:
        return False

    is_numeric = is_integer = is_float = is_number

    def __str__(self) -> str:
        return self.name


class _Exceptions:
    def raise_compiler_error(self, msg: Any = "", *args: Any) -> None:
        raise _RaiseError(str(msg))

    def raise_not_implemented(self, msg: Any = "", *args: Any) -> None:
        raise _RaiseError(str(msg))

    def warn(self, *args: Any, **kwargs: Any) -> str:
        return ""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name.startswith("raise"):
            return self.raise_compiler_error
        return self.warn


class _Namespace:
    """``dbt_utils.star``: a package's macros by name; unknown names render empty."""

    def __init__(self, name: str, macros: Mapping[str, Any]) -> None:
        self._name = name
        self._macros = macros

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._macros[name]
        except KeyError:
            return _Missing(name=f"{self._name}.{name}")

    def __getitem__(self, name: str) -> Any:
        # The sandbox refuses ``pkg._private`` as an attribute and then asks for the item:
        # dbt lets packages call their own underscore macros (``dbt_utils._is_relation``).
        return self._macros[name]

    def __contains__(self, name: object) -> bool:
        return name in self._macros


def _field_list(fields: Any) -> list[str]:
    if isinstance(fields, str | _Relation):
        return [str(fields)]
    try:
        return [str(f) for f in fields]
    except TypeError:
        return [str(fields)]


def _cross_db(dialect: str | None) -> dict[str, Any]:
    """dbt's own cross-database macros, as portable SQL that keeps every column reference.

    Only what the SQL means for lineage matters here (which columns feed which), so each one
    is a plain function call or cast sqlglot reads in any dialect; dateparts are string literals
    so they can never be mistaken for columns.
    """
    string = "string" if dialect == "bigquery" else "varchar"

    def const(value: str) -> Any:
        return lambda *a, **k: value

    return {
        "type_string": const(string), "type_int": const("integer"), "type_bigint": const("bigint"),
        "type_float": const("float"), "type_numeric": const("numeric(28, 6)"),
        "type_boolean": const("boolean"), "type_timestamp": const("timestamp"),
        "current_timestamp": const("current_timestamp"),
        "current_timestamp_backcompat": const("current_timestamp"),
        "current_timestamp_in_utc_backcompat": const("current_timestamp"),
        "date_trunc": lambda datepart, date: f"date_trunc('{datepart}', {date})",
        "dateadd": lambda datepart, interval, from_date_or_timestamp:
            f"dateadd('{datepart}', {interval}, {from_date_or_timestamp})",
        "datediff": lambda first_date, second_date, datepart:
            f"datediff('{datepart}', {first_date}, {second_date})",
        "last_day": lambda date, datepart="month": f"last_day({date})",
        "concat": lambda fields: f"concat({', '.join(_field_list(fields))})",
        "hash": lambda field: f"md5(cast({field} as {string}))",
        "safe_cast": lambda field, type: f"cast({field} as {type})",
        "cast": lambda field, type: f"cast({field} as {type})",
        "cast_bool_to_text": lambda field: f"cast({field} as {string})",
        "escape_single_quotes": lambda expression: str(expression).replace("'", "''"),
        "string_literal": lambda value: "'" + str(value).replace("'", "''") + "'",
        "replace": lambda field, old_chars, new_chars: f"replace({field}, {old_chars}, {new_chars})",
        "split_part": lambda string_text, delimiter_text, part_number:
            f"split_part({string_text}, {delimiter_text}, {part_number})",
        "listagg": lambda measure, delimiter_text="','", order_by_clause=None, limit_num=None:
            f"string_agg({measure}, {delimiter_text})",
        "position": lambda substring_text, string_text: f"position({substring_text} in {string_text})",
        "length": lambda expression: f"length({expression})",
        "right": lambda string_text, length_expression: f"right({string_text}, {length_expression})",
        "any_value": lambda expression: f"any_value({expression})",
        "bool_or": lambda expression: f"bool_or({expression})",
        "except": const("except"), "intersect": const("intersect"),
        "array_construct": lambda inputs=None, data_type=None:
            f"array_construct({', '.join(_field_list(inputs or []))})",
        "array_append": lambda array, new_element: f"array_append({array}, {new_element})",
        "array_concat": lambda array_1, array_2: f"array_concat({array_1}, {array_2})",
        "date": lambda year, month, day: f"cast('{int(year):04d}-{int(month):02d}-{int(day):02d}' as date)",
    }


def _local_md5(value: Any) -> str:
    return hashlib.md5(str(value).encode(), usedforsecurity=False).hexdigest()


def _fromjson(value: Any, default: Any = None) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return default


def _fromyaml(value: Any, default: Any = None) -> Any:
    try:
        return safe_yaml.safe_load(value)
    except safe_yaml.YamlRefused as exc:  # an alias bomb is a budget, not a malformed value
        raise JinjaBudgetExceeded(f"fromyaml refused: {exc}") from None
    except (yaml.YAMLError, TypeError, ValueError, RecursionError):
        return default


def _tojson(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
    try:
        return json.dumps(value, sort_keys=sort_keys)
    except (TypeError, ValueError):
        return default


def _toyaml(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
    try:
        return yaml.safe_dump(value, sort_keys=sort_keys)
    except (yaml.YAMLError, TypeError, ValueError):
        return default


def _set(value: Any, default: Any = None) -> Any:
    try:
        return set(value)
    except TypeError:
        return default


def _zip(*args: Any, default: Any = None) -> Any:
    try:
        return list(zip(*args, strict=False))
    except TypeError:
        return default


_NESTED_QUANTIFIER = _re.compile(r"\([^()]*[+*}|][^()]*\)\s*[+*{]")
_RE_MAX_PATTERN = 500
_RE_MAX_SUBJECT = 20_000


class _SafeRe:
    """``modules.re`` for templates, without catastrophic backtracking.

    A regex match runs in C and no time budget can interrupt it, so patterns with a quantified
    group that itself holds a quantifier or an alternation (``(a+)+``, ``(a|aa)*``), long
    patterns and long subjects are
    refused (the model then falls back to its syntax tree) rather than risking a hang.
    """

    IGNORECASE = _re.IGNORECASE
    MULTILINE = _re.MULTILINE
    DOTALL = _re.DOTALL
    VERBOSE = _re.VERBOSE

    @staticmethod
    def _check(pattern: Any, *subjects: Any) -> str:
        text = pattern.pattern if isinstance(pattern, _re.Pattern) else str(pattern)
        if len(text) > _RE_MAX_PATTERN or _NESTED_QUANTIFIER.search(text):
            raise _RaiseError(f"regular expression refused in the sandbox: {text[:80]!r}")
        if any(len(str(s)) > _RE_MAX_SUBJECT for s in subjects):
            raise _RaiseError("regular expression subject too long for the sandbox")
        return text

    def compile(self, pattern: Any, flags: int = 0) -> Any:
        self._check(pattern)
        return _SafePattern(pattern, flags)

    def sub(self, pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> str:
        self._check(pattern, string)
        if not isinstance(repl, str):
            raise _RaiseError("re.sub with a callable replacement is refused in the sandbox")
        return _re.sub(pattern, repl, str(string), count=count, flags=flags)

    def search(self, pattern: Any, string: Any, flags: int = 0) -> Any:
        self._check(pattern, string)
        return _re.search(pattern, str(string), flags)

    def match(self, pattern: Any, string: Any, flags: int = 0) -> Any:
        self._check(pattern, string)
        return _re.match(pattern, str(string), flags)

    def fullmatch(self, pattern: Any, string: Any, flags: int = 0) -> Any:
        self._check(pattern, string)
        return _re.fullmatch(pattern, str(string), flags)

    def findall(self, pattern: Any, string: Any, flags: int = 0) -> list[Any]:
        self._check(pattern, string)
        return _re.findall(pattern, str(string), flags)

    def finditer(self, pattern: Any, string: Any, flags: int = 0) -> list[Any]:
        self._check(pattern, string)
        return list(_re.finditer(pattern, str(string), flags))

    def split(self, pattern: Any, string: Any, maxsplit: int = 0, flags: int = 0) -> list[Any]:
        self._check(pattern, string)
        return _re.split(pattern, str(string), maxsplit=maxsplit, flags=flags)

    def escape(self, pattern: Any) -> str:
        return _re.escape(str(pattern))


class _SafePattern:
    def __init__(self, pattern: Any, flags: int) -> None:
        self.pattern = pattern.pattern if isinstance(pattern, _re.Pattern) else str(pattern)
        self.flags = flags

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in ("sub", "search", "match", "fullmatch", "findall",
                                                "finditer", "split"):
            raise AttributeError(name)
        method = getattr(_SafeRe(), name)
        if name == "sub":
            return lambda repl, string, count=0: method(self.pattern, repl, string, count, self.flags)
        if name == "split":
            return lambda string, maxsplit=0: method(self.pattern, string, maxsplit, self.flags)
        return lambda string: method(self.pattern, string, self.flags)


class _Modules:
    """``modules.datetime`` / ``modules.re`` (the sandbox still guards their attributes)."""

    datetime = _datetime
    re = _SafeRe()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Missing(name=name)


def _static_context(runtime: _Runtime) -> dict[str, Any]:
    """Names every template sees that do not depend on the model being rendered."""

    def statement(name: Any = None, fetch_result: Any = False, auto_begin: Any = True,
                  language: Any = "sql", caller: Any = None, **kwargs: Any) -> str:
        # While dbt parses, ``execute`` is false and a statement block runs nothing, so the body
        # is not rendered (refs written in it are no dependencies for dbt either).
        return ""

    def run_query(sql: Any = None, *args: Any, **kwargs: Any) -> _EmptyTable:
        return _EmptyTable()

    def raise_return(value: Any = None) -> Any:
        raise _MacroReturn(value)

    def tojson(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
        runtime.env.measure(value)  # a list doubled 40 times is refused before it is written out
        return _tojson(value, default, sort_keys)

    def toyaml(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
        runtime.env.measure(value)
        return _toyaml(value, default, sort_keys)

    ws = runtime.workspace
    return {
        "return": raise_return, "statement": statement, "load_result": lambda *a, **k: _EmptyResult(),
        "run_query": run_query, "store_result": lambda *a, **k: "", "store_raw_result": lambda *a, **k: "",
        "noop_statement": lambda *a, **k: "", "adapter": _Adapter(runtime), "exceptions": _Exceptions(),
        "log": lambda *a, **k: "", "print": lambda *a, **k: "", "execute": False,
        "flags": _Missing(name="flags"),
        "modules": _Modules(), "fromjson": _fromjson, "tojson": tojson, "fromyaml": _fromyaml,
        "toyaml": toyaml, "set": _set, "set_strict": set, "zip": _zip, "zip_strict": zip,
        "local_md5": _local_md5, "env_var": lambda name, default="": default,
        "is_incremental": lambda: False, "should_full_refresh": lambda: False,
        "load_relation": lambda *a, **k: None, "load_agate_table": lambda *a, **k: _EmptyTable(),
        "dbt_version": "1.10.0", "invocation_id": "00000000-0000-0000-0000-000000000000",
        "run_started_at": _datetime.datetime(2000, 1, 1, tzinfo=_datetime.UTC),
        "selected_resources": [], "graph": {k: {} for k in ("nodes", "sources", "exposures", "metrics",
                                                              "groups", "semantic_models", "saved_queries")},
        "target": ws.target(), "project_name": ws.root.name,
        "api": {"Relation": _Namespace("api.Relation", {"create": lambda *a, **k: _Relation(
            ".".join(str(p) for p in (k.get("database"), k.get("schema"), k.get("identifier")) if p))})},
    }


# -- projects, packages and profiles --------------------------------------------------------------

@dataclass
class ProjectInfo:
    name: str
    root: str
    vars: dict[str, Any]
    model_config: dict[str, Any]
    model_paths: list[str]
    macro_paths: list[str]
    seed_paths: list[str]
    snapshot_paths: list[str]
    database: str | None
    schema: str
    dialect: str | None
    adapter: str | None
    profile: str
    packages_path: str = "dbt_packages"
    dispatch: list[dict[str, Any]] = field(default_factory=list)
    owner: str | None = None  # root folder of the project that installed this one as a package
    seed_config: dict[str, Any] = field(default_factory=dict)
    snapshot_config: dict[str, Any] = field(default_factory=dict)
    profile_source: str = ""
    target_name: str = "dev"


def _load_yaml(text: Any) -> Any:
    """Untrusted YAML: alias bombs, excessive depth and non-core tags refused or read as plain
    values (:mod:`safe_yaml`); raises ``yaml.YAMLError`` (``YamlRefused`` with a ``code``)."""
    return safe_yaml.safe_load(text)


def _safe_yaml(text: str | None) -> Any:
    """A YAML file read for context: malformed or refused reads as absent (its own analysis
    reports why)."""
    return safe_yaml.safe_load_or_none(text)


def _load_or_refuse(text: str) -> Any:
    """A YAML file analysed for itself: a failure is this file's diagnostic, with the refusal's
    own code (``yaml_alias_budget``, ``yaml_depth``...) when the safe loader refused it."""
    try:
        return _load_yaml(text)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise AnalysisError(safe_yaml.refusal_code(exc), first[:300]) from None


def _join(root: str, path: str) -> str:
    path = str(path).strip().strip("/")
    joined = posixpath.normpath(posixpath.join(root, path)) if root else posixpath.normpath(path)
    return "" if joined == "." else joined


def _project_doc(root: str, ctx: RepoContext) -> dict[str, Any]:
    store = _MEMO.get(ctx)
    key = ("doc", root)
    if key not in store:
        doc = _safe_yaml(ctx.text(_join(root, "dbt_project.yml")))
        store[key] = doc if isinstance(doc, dict) else {}
    return store[key]


def _install_path(root: str, doc: dict[str, Any]) -> str:
    return _join(root, str(doc.get("packages-install-path") or "dbt_packages"))


def owner_root(root: str, ctx: RepoContext) -> str | None:
    """The project that installed ``root`` as a package (its install path holds it), if any."""
    if not root:
        return None
    parent = posixpath.dirname(root)
    parts = root.split("/")
    for i in range(len(parts) - 1, -1, -1):
        base = "/".join(parts[:i])
        if base == root or not ctx.exists(_join(base, "dbt_project.yml")):
            continue
        if _install_path(base, _project_doc(base, ctx)) == parent:
            return base
    return None


def _render_small(value: Any, variables: Mapping[str, Any], target: Mapping[str, Any] | None = None) -> Any:
    """``"{{ var('x', false) }}"`` in a YAML value, rendered with ``var``/``env_var``/``target``/``modules``.

    The same small context dbt gives ``dbt_project.yml`` and ``profiles.yml``; ``env_var`` gives
    its default, never this machine's environment.
    """
    if not isinstance(value, str) or "{{" not in value:
        return value
    env = _env()
    env.globals.update({"var": lambda name, default=None: variables.get(name, default),
                        "env_var": lambda name, default="": default, "target": dict(target or {}),
                        "modules": _Modules()})
    try:
        return env.from_string(value).render()
    except (TemplateError, SecurityError, ArithmeticError, TypeError, ValueError, AttributeError,
            KeyError, IndexError, _RaiseError, _MacroReturn):
        return value


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off", "none", "")
    return bool(value)


@dataclass
class ProfileTarget:
    adapter: str | None = None
    schema: str = PROFILE_DEFAULT_SCHEMA
    database: str | None = None
    source: str = ""
    content_hash: str = "-"
    name: str = "dev"


def _read_disk(path: Path) -> str | None:
    try:
        if path.is_file() and path.stat().st_size < 1_000_000:
            return path.read_text("utf-8", errors="replace")
    except OSError:
        return None
    return None


def find_profile(profile_name: str, root: str, ctx: RepoContext, profiles_dir: str | None = None,
                 environ: Mapping[str, str] | None = None, home: Path | None = None) -> ProfileTarget:
    """The profile's target where dbt looks for it, first match wins.

    ``profiles_dir`` (``dbt --profiles-dir``: repository-relative, or an absolute folder on this
    machine), then ``$DBT_PROFILES_DIR``, then the project folder, then ``~/.dbt``. Values that
    are Jinja (``{{ env_var('X') }}``) render with defaults only: the analysing machine's
    environment never leaks into the graph.

    A profile read from outside the repository (an absolute ``profiles_dir``,
    ``$DBT_PROFILES_DIR``, ``~/.dbt``) belongs to the analysing host, not to the repository:
    only its adapter type (which picks the SQL dialect) and its target name are taken from it,
    and neither its path nor any other value (database, schema, host, credentials) reaches the
    output: relation names then use dbt's defaults. Its content hash still enters the
    workspace fingerprint, so the cache notices when it changes.
    """
    environ = os.environ if environ is None else environ
    candidates: list[tuple[str, str | None, bool]] = []  # (label, text, inside the repository)

    def add(folder: str | None, label: str) -> None:
        if not folder:
            return
        if posixpath.isabs(folder) or os.path.isabs(folder):
            candidates.append((label, _read_disk(Path(folder) / "profiles.yml"), False))
        else:
            rel = _join(_join("", folder), "profiles.yml")  # inside the repository, never above it
            candidates.append((rel, None if rel.startswith("..") else ctx.text(rel), True))

    add(profiles_dir, "--profiles-dir/profiles.yml")
    add(environ.get("DBT_PROFILES_DIR"), "$DBT_PROFILES_DIR/profiles.yml")
    candidates.append((_join(root, "profiles.yml"), ctx.text(_join(root, "profiles.yml")), True))
    home_text = _read_disk((home or Path.home()) / ".dbt" / "profiles.yml")
    candidates.append(("~/.dbt/profiles.yml", home_text, False))
    for source, text, inside in candidates:
        profiles = _safe_yaml(text)
        if not isinstance(profiles, dict) or not isinstance(profiles.get(profile_name), dict):
            continue
        prof = profiles[profile_name]
        outputs = prof.get("outputs") if isinstance(prof.get("outputs"), dict) else {}
        name = _render_small(prof.get("target"), {})
        if name not in outputs:
            name = next(iter(outputs), "dev")
        target = outputs.get(name) or {}
        if not isinstance(target, dict):
            continue
        got = ProfileTarget(source=source, content_hash=hashlib.sha256((text or "").encode()).hexdigest(),
                            name=str(name))

        def value(*keys: str, target: dict[str, Any] = target) -> str | None:
            for key in keys:
                v = _render_small(target.get(key), {})
                if v not in (None, ""):
                    return str(v)
            return None

        got.adapter = value("type")
        if not inside:  # the host's profile: its adapter and target name only (see above)
            return got
        got.schema = value("schema", "dataset") or PROFILE_DEFAULT_SCHEMA
        got.database = value("database", "dbname", "project", "catalog")
        if got.adapter == "duckdb" and not got.database:
            path = value("path") or ":memory:"
            got.database = "memory" if path == ":memory:" else posixpath.splitext(posixpath.basename(path))[0]
        return got
    return ProfileTarget()


def load_project(root: str, ctx: RepoContext, profiles_dir: str | None = None) -> ProjectInfo:
    """A project's settings; a package takes profile, vars and model configs from its owner."""
    doc = _project_doc(root, ctx)
    name = str(doc.get("name") or posixpath.basename(root) or "project")
    owner = owner_root(root, ctx)
    owner_doc = _project_doc(owner, ctx) if owner is not None else doc
    profile_name = str(owner_doc.get("profile") or owner_doc.get("name") or name)
    profile = find_profile(profile_name, owner if owner is not None else root, ctx, profiles_dir)
    dialect = ADAPTER_DIALECTS.get(str(profile.adapter)) if profile.adapter else None

    def paths(key: str, default: str) -> list[str]:
        value = doc.get(key) or [default]
        return [_join(root, str(p)) for p in (value if isinstance(value, list) else [value])]

    def mapping(d: dict[str, Any], key: str) -> dict[str, Any]:
        v = d.get(key)
        return v if isinstance(v, dict) else {}

    variables = dict(mapping(doc, "vars"))
    model_config = {name: mapping(mapping(doc, "models"), name)}
    seed_config = {name: mapping(mapping(doc, "seeds"), name)}
    snapshot_config = {name: mapping(mapping(doc, "snapshots"), name)}
    if owner is not None:
        # dbt: the root project's vars and configs for this package win over the package's own.
        owner_vars = mapping(owner_doc, "vars")
        variables.update({k: v for k, v in owner_vars.items() if not isinstance(v, dict)})
        scoped = dict(mapping(variables, name))
        scoped.update(mapping(owner_vars, name))
        variables[name] = scoped
        model_config = {name: _deep_merge(model_config[name], mapping(mapping(owner_doc, "models"), name))}
        seed_config = {name: _deep_merge(seed_config[name], mapping(mapping(owner_doc, "seeds"), name))}
        snapshot_config = {name: _deep_merge(snapshot_config[name],
                                             mapping(mapping(owner_doc, "snapshots"), name))}
    target = {"name": profile.name, "schema": profile.schema, "database": profile.database,
              "type": profile.adapter or "", "profile_name": profile_name, "target_name": profile.name}
    flat = {k: v for k, v in variables.items() if not isinstance(v, dict)}
    variables = {k: ({kk: _render_small(vv, flat, target) for kk, vv in v.items()} if isinstance(v, dict)
                     else _render_small(v, flat, target)) for k, v in variables.items()}
    dispatch = [d for d in (owner_doc.get("dispatch") or []) if isinstance(d, dict)] \
        if isinstance(owner_doc.get("dispatch"), list) else []
    return ProjectInfo(
        name=name, root=root, vars=variables, model_config=model_config,
        model_paths=paths("model-paths", "models"), macro_paths=paths("macro-paths", "macros"),
        seed_paths=paths("seed-paths", "seeds"), snapshot_paths=paths("snapshot-paths", "snapshots"),
        database=profile.database, schema=profile.schema, dialect=dialect or ctx.config.sql_dialect,
        adapter=profile.adapter, profile=profile_name,
        packages_path=_install_path(root, doc), dispatch=dispatch, owner=owner, seed_config=seed_config,
        snapshot_config=snapshot_config, profile_source=f"{profile.source}#{profile.content_hash}",
        target_name=profile.name)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _under(path: str, dirs: Sequence[str]) -> str | None:
    for d in dirs:
        if d and path.startswith(d + "/"):
            return d
    return None


def _folder_config(project: ProjectInfo, rel_dir_parts: list[str],
                   tree: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``+key`` settings down the ``models:`` (or seeds/snapshots) tree of dbt_project.yml."""
    config: dict[str, Any] = {}
    level = (tree if tree is not None else project.model_config).get(project.name)
    for part in [None, *rel_dir_parts]:
        if part is not None:
            level = level.get(part) if isinstance(level, dict) else None
        if not isinstance(level, dict):
            break
        for k, v in level.items():
            if k.startswith("+"):
                config[k[1:]] = v
            elif k in ("materialized", "schema", "alias", "tags", "enabled", "database") \
                    and not isinstance(v, dict):
                config[k] = v
    return config


@dataclass
class Workspace:
    """A root project with the packages installed under it: one macro namespace, one profile."""

    root: ProjectInfo
    packages: dict[str, ProjectInfo]  # by project name
    macro_files: dict[str, list[str]]  # project name -> macro file paths
    fingerprint: str

    @property
    def adapter(self) -> str | None:
        return self.root.adapter

    @property
    def dialect(self) -> str | None:
        return self.root.dialect

    def projects(self) -> list[ProjectInfo]:
        return [self.root, *self.packages.values()]

    def project(self, name: str) -> ProjectInfo | None:
        return self.root if name == self.root.name else self.packages.get(name)

    def target(self) -> dict[str, Any]:
        return {"name": self.root.target_name, "schema": self.root.schema, "database": self.root.database,
                "type": self.root.adapter or "", "profile_name": self.root.profile, "threads": 1,
                "target_name": self.root.target_name}


class _Memo:
    """Per-snapshot memory (workspaces, compiled macro namespaces) tied to the RepoContext.

    The engine hands every file of one snapshot the same context object; keying by it (weakly)
    shares the work across files without outliving the snapshot.
    """

    def __init__(self) -> None:
        self._by_ctx: dict[int, tuple[weakref.ref[RepoContext], dict[Any, Any]]] = {}
        self.lock = threading.RLock()

    def get(self, ctx: RepoContext) -> dict[Any, Any]:
        with self.lock:
            entry = self._by_ctx.get(id(ctx))
            if entry is not None and entry[0]() is ctx:
                return entry[1]
            for key in [k for k, (ref, _) in self._by_ctx.items() if ref() is None]:
                del self._by_ctx[key]
            store: dict[Any, Any] = {}
            self._by_ctx[id(ctx)] = (weakref.ref(ctx), store)
            return store


_MEMO = _Memo()


def workspace_of(root: str, ctx: RepoContext, profiles_dir: str | None = None) -> Workspace:
    """The workspace a project belongs to (its owner's when it is an installed package)."""
    owner = owner_root(root, ctx)
    base = owner if owner is not None else root
    store = _MEMO.get(ctx)
    key = ("workspace", base, profiles_dir)
    with _MEMO.lock:
        if key in store:
            return store[key]
    project = load_project(base, ctx, profiles_dir)
    packages: dict[str, ProjectInfo] = {}
    prefix = project.packages_path + "/" if project.packages_path else ""
    for path in sorted(ctx.paths()):
        if path.startswith(prefix) and path.endswith("/dbt_project.yml") \
                and path[len(prefix):].count("/") == 1:
            pkg = load_project(posixpath.dirname(path), ctx, profiles_dir)
            if pkg.owner == base and pkg.name != project.name:
                packages.setdefault(pkg.name, pkg)
    h = hashlib.sha256(ctx.config.fingerprint().encode())
    h.update(project.profile_source.encode())
    macro_files: dict[str, list[str]] = {p.name: [] for p in [project, *packages.values()]}
    all_projects = [project, *packages.values()]
    for p in all_projects:
        f = ctx.files.get(_join(p.root, "dbt_project.yml"))
        h.update(f"{p.root}={f.blob_sha if f else '-'}".encode())
    roots = sorted(((p.macro_paths, p.name) for p in all_projects), key=lambda x: x[1])
    for path in sorted(ctx.paths()):
        if not path.endswith(".sql"):
            continue
        for macro_paths, name in roots:
            if _under(path, macro_paths) is not None and _owning_project(path, all_projects) == name:
                macro_files[name].append(path)
                h.update(f"{path}={ctx.files[path].blob_sha}".encode())
    ws = Workspace(root=project, packages=packages, macro_files=macro_files, fingerprint=h.hexdigest())
    with _MEMO.lock:
        store[key] = ws
    return ws


def _owning_project(path: str, projects: Sequence[ProjectInfo]) -> str | None:
    """The deepest project folder holding ``path``."""
    best: ProjectInfo | None = None
    for p in projects:
        if (not p.root or path.startswith(p.root + "/")) and (best is None or len(p.root) > len(best.root)):
            best = p
    return best.name if best else None


# -- the compiled macro namespace of a workspace --------------------------------------------------

_MACRO_NAME = _re.compile(r"\{%-?\s*macro\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")


class _LazyMacros(Mapping):  # type: ignore[type-arg]
    """One package's macros by name; a macro file is compiled the first time one of its names is
    looked up, so a model pays only for the macros it reaches (packages hold hundreds)."""

    def __init__(self, runtime: _Runtime, package: str, files: Sequence[str], ctx: RepoContext) -> None:
        self._runtime = runtime
        self._package = package
        self._ctx = ctx
        self.loaded: dict[str, Any] = {}
        self._index: dict[str, list[str]] = {}
        self._done: set[str] = set()
        for path in files:
            for name in _MACRO_NAME.findall(ctx.text(path) or ""):
                self._index.setdefault(name, []).append(path)

    def __getitem__(self, name: str) -> Any:
        if name not in self.loaded:
            for path in self._index.get(name, ()):
                if path not in self._done:
                    self._done.add(path)
                    self._runtime._load(path, self._ctx.text(path) or "", self._package)
        return self.loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self.loaded or name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._index, *self.loaded]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*self._index, *self.loaded]))


class _Runtime:
    """The macros of a workspace, compiled once (on first use), shared by all its models.

    Unqualified names resolve as dbt resolves them for a node of package P: P's own macros, then
    the root project's, then the per-model context (``ref``, ``this``...), then dbt's built-ins;
    ``pkg.macro`` reaches any package. Per-model values live in one dict (``dyn``) that is
    rebound before each render, so compiled macros never need recompiling.
    """

    def __init__(self, ws: Workspace, ctx: RepoContext) -> None:
        self.workspace = ws
        self.env = _env()
        self.lock = threading.RLock()
        self.dyn: dict[str, Any] = {}
        self.static = _static_context(self)
        self.cross_db = _cross_db(ws.dialect)
        self.macros: dict[str, _LazyMacros] = {
            p.name: _LazyMacros(self, p.name, ws.macro_files.get(p.name, []), ctx) for p in ws.projects()}
        self.namespaces: dict[str, Any] = {name: _Namespace(name, macros)
                                           for name, macros in self.macros.items()}
        self.dbt_ns = _Namespace("dbt", ChainMap(self.cross_db, self.static))
        self.errors: list[tuple[str, str]] = []
        self.chains = {p.name: self._chain(p.name) for p in ws.projects()}

    def _chain(self, package: str) -> ChainMap[str, Any]:
        root = self.workspace.root.name
        maps: list[Mapping[str, Any]] = [self.macros[package]]
        if package != root:
            maps.append(self.macros[root])
        maps += [self.dyn, {"dbt": self.dbt_ns, "builtins": self.dyn}, self.namespaces, self.static,
                 self.cross_db, self.env.globals]  # Jinja's own: range, dict, namespace...
        return ChainMap(*maps)  # type: ignore[arg-type]

    def _load(self, path: str, text: str, package: str) -> None:
        """Register a macro file's macro definitions. Only ``{% macro %}`` nodes are kept: dbt
        never runs a macro file's top-level code, and running it here would let one file with a
        top-level loop cost every model that reaches one of its macros."""
        try:
            tree = self.env.parse(text)
            tree.body = [n for n in tree.body if isinstance(n, nodes.Macro)]
            template = self.env.from_string(tree)
            context = template.new_context(self.chains[package], shared=True)  # type: ignore[arg-type]
            for _ in template.root_render_func(context):
                pass
        except Exception as exc:
            self.errors.append((path, f"{type(exc).__name__}: {exc}"))
            return
        for name in context.exported_vars:
            value = context.vars.get(name)
            if isinstance(value, Macro):
                self.macros[package].loaded.setdefault(name, value)

    def dispatch(self, macro_name: str, namespace: str | None) -> Any:
        """``adapter.dispatch``: ``<adapter>__x``, its parents', then ``default__x``, per package."""
        adapter = self.workspace.adapter
        prefixes = ([adapter, *ADAPTER_PARENTS.get(adapter, [])] if adapter else []) + ["default"]
        search: list[str | None]
        if namespace is None:
            search = [None]
        else:
            configured = next((d.get("search_order") for d in self.workspace.root.dispatch
                               if d.get("macro_namespace") == namespace), None)
            search = [str(s) for s in configured] if isinstance(configured, list) else \
                [self.workspace.root.name, namespace]
        for package in search:
            for prefix in prefixes:
                found = self._lookup(package, f"{prefix}__{macro_name}")
                if found is not None:
                    return found
        # dbt's own macros (namespace "dbt" or none): the portable stand-ins written here.
        if namespace in (None, "dbt") and macro_name in self.cross_db:
            return self.cross_db[macro_name]
        return _Missing(name=macro_name)

    def _lookup(self, package: str | None, name: str) -> Any:
        if package is None:
            for macros in (self.macros.get(self.dyn.get("__package__", "")) or {}, self.macros[
                    self.workspace.root.name]):
                if name in macros:
                    return macros[name]
            return self.cross_db.get(name.partition("__")[2]) if name.startswith("default__") else None
        if package == "dbt":
            return self.cross_db.get(name.partition("__")[2]) if name.startswith("default__") else None
        return self.macros.get(package, {}).get(name)

    def bind(self, recorder: _Recorder) -> None:
        self.env.reset_budget()  # each model (and each naming-macro call) its own Jinja budget
        self.dyn.clear()
        self.dyn.update(recorder.context())

    def render(self, source: str | nodes.Template, package: str) -> str:
        template = self.env.from_string(source)
        context = template.new_context(self.chains[package], shared=True)  # type: ignore[arg-type]
        try:
            return self.env.concat(template.root_render_func(context))  # type: ignore[attr-defined]
        except _MacroReturn as ret:  # ``return()`` outside any macro ends the template with it
            return "" if ret.value is None else str(ret.value)


def runtime_of(ws: Workspace, ctx: RepoContext) -> _Runtime:
    store = _MEMO.get(ctx)
    key = ("runtime", ws.root.root, ws.fingerprint)
    with _MEMO.lock:
        rt = store.get(key)
        if rt is None:
            rt = store[key] = _Runtime(ws, ctx)
        return rt


class _Config:
    """``config``: a call records settings; ``config.get``/``require`` read them back."""

    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        if args and isinstance(args[0], dict):
            self._recorder.config.update(args[0])
        self._recorder.config.update(kwargs)
        return ""

    def get(self, key: str, default: Any = None, validator: Any = None) -> Any:
        return self._recorder.config.get(key, default)

    def require(self, key: str, validator: Any = None) -> Any:
        return self._recorder.config.get(key, "")

    def set(self, key: str, value: Any) -> str:
        self._recorder.config[key] = value
        return ""

    def meta_get(self, key: str, default: Any = None) -> Any:
        meta = self._recorder.config.get("meta")
        return meta.get(key, default) if isinstance(meta, dict) else default

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Missing(name=name)


class _Recorder:
    """Stand-ins for dbt's per-model context; what a template calls is what we learn about it."""

    def __init__(self, project: ProjectInfo, self_name: str, target: dict[str, Any] | None = None,
                 path: str = "", kind: str = "model") -> None:
        self.project = project
        self.self_name = self_name
        self.refs: list[list[str]] = []
        self.sources: list[list[str]] = []
        self.config: dict[str, Any] = {}
        self.missing_vars: list[str] = []
        self.target = target or {"name": "dev", "schema": project.schema, "database": project.database,
                                 "type": project.adapter or "", "profile_name": project.profile}
        self.path = path
        self.kind = kind
        self.catalog: Any = None  # placeholder name -> known column names (link-time re-render)

    def ref(self, *args: Any, **kwargs: Any) -> Any:
        names = [str(a) for a in args if a is not None]
        if not names:
            return ""
        self.refs.append(names)
        return _Relation(REF_PREFIX + names[-1])

    def source(self, source_name: Any, table_name: Any) -> Any:
        self.sources.append([str(source_name), str(table_name)])
        return _Relation(f"{SRC_PREFIX}{source_name}__{table_name}")

    def var(self, name: str, default: Any = None) -> Any:
        scoped = self.project.vars.get(self.project.name)
        if isinstance(scoped, dict) and name in scoped:
            return scoped[name]
        if name in self.project.vars:
            return self.project.vars[name]
        if default is None:
            self.missing_vars.append(name)
            return ""
        return default

    def cfg(self, *args: Any, **kwargs: Any) -> str:
        if args and isinstance(args[0], dict):
            self.config.update(args[0])
        self.config.update(kwargs)
        return ""

    def context(self) -> dict[str, Any]:
        def raise_error(msg: str = "", *a: Any) -> None:
            raise _RaiseError(str(msg))

        this = _Relation(REF_PREFIX + self.self_name, self.project.database, self.project.schema)
        node = {"name": self.self_name, "resource_type": self.kind, "package_name": self.project.name,
                "unique_id": f"{self.kind}.{self.project.name}.{self.self_name}", "path": self.path,
                "original_file_path": self.path, "config": self.config, "tags": [], "refs": [],
                "sources": [], "fqn": [self.project.name, self.self_name], "alias": self.self_name,
                "schema": self.project.schema, "database": self.project.database}
        return {
            "ref": self.ref, "source": self.source, "var": self.var, "config": _Config(self),
            "this": this, "model": node, "node": node, "target": self.target,
            "project_name": self.project.name, "__package__": self.project.name,
            "__catalog__": self.catalog,
        }


# -- the analyzer ---------------------------------------------------------------------------------

def _literal_calls(tree: nodes.Template) -> tuple[list[list[str]], list[list[str]]]:
    """``ref()``/``source()`` calls with literal arguments, read from the Jinja syntax tree."""
    refs: list[list[str]] = []
    sources: list[list[str]] = []
    for call in tree.find_all(nodes.Call):
        if not isinstance(call.node, nodes.Name) or call.node.name not in ("ref", "source"):
            continue
        args = [a.value for a in call.args if isinstance(a, nodes.Const) and isinstance(a.value, str)]
        if len(args) != len(call.args) or not args:
            continue
        if call.node.name == "ref" and len(args) <= 2:
            refs.append(args)
        elif call.node.name == "source" and len(args) == 2:
            sources.append(args)
    return refs, sources


class DbtAnalyzer(Analyzer):
    """dbt projects as ``dbt parse`` sees them; ``profiles_dir`` is ``dbt --profiles-dir``."""

    name = "dbt"
    version = "2.2.2"

    def __init__(self, profiles_dir: str | None = None) -> None:
        self.profiles_dir = profiles_dir

    def accepts(self, file: SourceFile, ctx: RepoContext) -> bool:
        if file.suffix not in (".sql", ".yml", ".yaml", ".csv"):
            return False
        root = dbt_project_root(file.path, ctx)
        if root is None:
            return False
        # A project nested inside an installed package (its integration tests) is never part of
        # the installing project: dbt does not see it, neither do we.
        return not _inside_package_but_not_one(root, ctx)

    def context_fingerprint(self, file: SourceFile, ctx: RepoContext) -> str:
        root = dbt_project_root(file.path, ctx) or ""
        ws = workspace_of(root, ctx, self.profiles_dir)
        return hashlib.sha256(f"{ws.fingerprint}|{root}".encode()).hexdigest()

    def _project(self, root: str, ctx: RepoContext) -> tuple[ProjectInfo, Workspace]:
        ws = workspace_of(root, ctx, self.profiles_dir)
        if root == ws.root.root:
            return ws.root, ws
        for p in ws.packages.values():
            if p.root == root:
                return p, ws
        return load_project(root, ctx, self.profiles_dir), ws

    # -- per file -------------------------------------------------------------------------
    def _analyze(self, file: SourceFile, text: str, ctx: RepoContext, budget: Budget) -> FileResult:
        root = dbt_project_root(file.path, ctx) or ""
        project, ws = self._project(root, ctx)
        result = FileResult(path=file.path, analyzer=self.name,
                            facts={"project": project.name, "root": root, "workspace": ws.root.root})
        rel_project = _join(root, "dbt_project.yml")
        if file.path == rel_project:
            self._project_file(file, project, ctx, result)
        elif file.suffix == ".sql" and _under(file.path, project.macro_paths):
            self._macros(file, text, project, ctx, result, ws)
        elif file.suffix == ".sql" and _under(file.path, project.snapshot_paths):
            self._model(file, text, project, ws, ctx, result, budget, kind="snapshot")
        elif file.suffix == ".sql" and _under(file.path, project.model_paths):
            self._model(file, text, project, ws, ctx, result, budget, kind="model")
        elif file.suffix in (".yml", ".yaml") and (_under(file.path, project.model_paths)
                                                   or _under(file.path, project.seed_paths)
                                                   or _under(file.path, project.snapshot_paths)):
            self._schema_yaml(file, text, result)
        elif file.suffix == ".csv" and _under(file.path, project.seed_paths):
            self._seed(file, text, project, ctx, result)
        elif file.name in ("packages.yml", "dependencies.yml") and posixpath.dirname(file.path) == root:
            self._packages(file, text, project, ws, result)
        elif file.name == "profiles.yml" and posixpath.dirname(file.path) == root:
            # Read for context only (find_profile), where a refused file reads as absent; the
            # reason (an alias bomb, a date Python cannot hold) belongs on the file itself.
            _load_or_refuse(text)
        return result

    def _project_file(self, file: SourceFile, project: ProjectInfo, ctx: RepoContext,
                      result: FileResult) -> None:
        doc = _load_or_refuse(file.content.decode("utf-8", "replace"))
        if not isinstance(doc, dict) or "name" not in doc:
            raise AnalysisError("yaml_error", "dbt_project.yml is not a mapping with a name")
        pid = ctx.nid("dbt.project", project.name)
        result.nodes.append(Node(
            id=pid, type="dbt.project", scope=ctx.repo_id, key=project.name, name=project.name,
            path=file.path, props={"version": str(doc.get("version", "")), "profile": project.profile,
                                   "model_paths": project.model_paths,
                                   "vars": {k: v for k, v in project.vars.items() if k != project.name}
                                   if project.owner else project.vars,
                                   "dialect": project.dialect or "",
                                   "package_of": project.owner if project.owner is not None else ""}))
        result.edges.append(Edge(type="defined_in", src=pid, dst=ctx.file_id(file.path)))

    def _packages(self, file: SourceFile, text: str, project: ProjectInfo, ws: Workspace,
                  result: FileResult) -> None:
        doc = _safe_yaml(text) or {}
        installed = {_norm_pkg(p.name) for p in ws.packages.values()} | {
            _norm_pkg(posixpath.basename(p.root)) for p in ws.packages.values()}
        for pkg in (doc.get("packages") or []) if isinstance(doc, dict) else []:
            if not isinstance(pkg, dict):
                continue
            name = str(pkg.get("package") or pkg.get("git") or pkg.get("local") or "?")
            short = name.rstrip("/").split("/")[-1].removesuffix(".git")
            if _norm_pkg(short) not in installed:
                result.diagnostics.append(self.diag(
                    file.path, "package_not_installed",
                    f"dbt package {name} is not installed in {project.packages_path or '.'}/ "
                    "(run dbt deps); its macros render empty", severity="warning"))

    def _model(self, file: SourceFile, text: str, project: ProjectInfo, ws: Workspace, ctx: RepoContext,
               result: FileResult, budget: Budget, kind: str) -> None:
        name = posixpath.splitext(file.name)[0]
        tree = _parse(text)
        # Read the tree before compiling it: Jinja's optimiser rewrites it in place.
        called = _called_names(tree)
        literal_refs, literal_sources = _literal_calls(tree)
        if kind == "snapshot":
            name = _snapshot_name(text) or name
        recorder = _Recorder(project, name, ws.target(), file.path, kind)
        runtime = runtime_of(ws, ctx)
        budget.check()
        rendered, error = "", None
        with runtime.lock:
            runtime.bind(recorder)
            try:
                rendered = runtime.render(tree, project.name)
            except (TemplateError, SecurityError, _RaiseError, ArithmeticError, TypeError, ValueError,
                    AttributeError, KeyError, IndexError, RecursionError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            finally:
                introspects = bool(runtime.dyn.get("__introspected__"))
                runtime.dyn.clear()
        budget.check()
        confidence = 1.0
        if error is not None:
            # Keep what the model visibly depends on: the literal ref()/source() calls of its tree.
            refs, sources = literal_refs, literal_sources
            recorder.refs, recorder.sources, rendered = refs, sources, ""
            confidence = FALLBACK_CONFIDENCE
            result.diagnostics.append(self.diag(
                file.path, "jinja_render_error",
                f"{error}; kept {len(refs)} ref() and {len(sources)} source() calls from the Jinja "
                f"syntax tree (confidence {FALLBACK_CONFIDENCE}), no column lineage", severity="warning"))
        used_macros = sorted(_macro_uses(called, project.name, ws.root.name, runtime))
        base = _under(file.path, project.snapshot_paths if kind == "snapshot" else project.model_paths) or ""
        rel_dir = posixpath.dirname(file.path[len(base) + 1:])
        tree = project.model_config if kind == "model" else project.snapshot_config
        config = _folder_config(project, rel_dir.split("/") if rel_dir else [], tree)
        config.update(recorder.config)
        enabled = _truthy(_render_small(config.get("enabled", True), _flat_vars(project)))
        materialized = str(config.get("materialized") or ("snapshot" if kind == "snapshot" else "view"))
        node_type = f"dbt.{kind}"
        key = f"{project.name}.{name}"
        nid = ctx.nid(node_type, key)
        props: dict[str, Any] = {"materialized": materialized} if kind == "model" else {
            "strategy": str(config.get("strategy", "")), "unique_key": str(config.get("unique_key", ""))}
        if kind == "model":
            props.update({"schema": str(config.get("schema", "") or ""),
                          "alias": str(config.get("alias", "") or ""),
                          "tags": [str(t) for t in (config.get("tags") or [])]
                          if isinstance(config.get("tags"), list) else [str(config.get("tags"))]
                          if config.get("tags") else []})
        if confidence < 1.0:
            props["rendered"] = False
        facts_base = {"kind": kind, "name": name, "id": nid, "package": project.name,
                      "enabled": enabled, "confidence": confidence, "introspects": introspects}
        if not enabled:
            result.facts.update({**facts_base, "refs": [], "sources": [], "rendered": "",
                                 "config": {}, "macros": [], "materialized": materialized})
            return
        result.nodes.append(Node(id=nid, type=node_type, scope=ctx.repo_id, key=key, name=name,
                                 path=file.path, props=props))
        result.edges.append(Edge(type="defined_in", src=nid, dst=ctx.file_id(file.path)))
        for var in sorted(set(recorder.missing_vars)):
            result.diagnostics.append(self.diag(file.path, "missing_var",
                                                f"var {var!r} has no value or default", severity="warning"))
        result.facts.update({
            **facts_base, "rendered": rendered, "refs": recorder.refs, "sources": recorder.sources,
            "config": {k: v for k, v in config.items() if isinstance(v, str | int | float | bool)},
            "macros": used_macros, "materialized": materialized})

    def _macros(self, file: SourceFile, text: str, project: ProjectInfo, ctx: RepoContext,
                result: FileResult, ws: Workspace) -> None:
        tree = _parse(text)
        found = []
        for macro in tree.find_all(nodes.Macro):
            key = f"{project.name}.{macro.name}"
            mid = ctx.nid("dbt.macro", key)
            found.append(macro.name)
            result.nodes.append(Node(id=mid, type="dbt.macro", scope=ctx.repo_id, key=key, name=macro.name,
                                     path=file.path, span=(macro.lineno, macro.lineno),
                                     props={"arguments": [a.name for a in macro.args]}))
            result.edges.append(Edge(type="defined_in", src=mid, dst=ctx.file_id(file.path)))
        result.facts.update({"kind": "macros", "macros": found})

    def _schema_yaml(self, file: SourceFile, text: str, result: FileResult) -> None:
        doc = _load_or_refuse(text)
        if not isinstance(doc, dict):
            return
        result.facts.update({"kind": "schema_yaml", "models": _as_list(doc.get("models")),
                             "sources": _as_list(doc.get("sources")), "seeds": _as_list(doc.get("seeds")),
                             "snapshots": _as_list(doc.get("snapshots"))})

    def _seed(self, file: SourceFile, text: str, project: ProjectInfo, ctx: RepoContext,
              result: FileResult) -> None:
        name = posixpath.splitext(file.name)[0]
        try:
            header = next(csv.reader(io.StringIO(text)), [])
        except csv.Error as exc:
            raise AnalysisError("csv_error", str(exc)) from None
        base = _under(file.path, project.seed_paths) or ""
        rel_dir = posixpath.dirname(file.path[len(base) + 1:])
        config = _folder_config(project, rel_dir.split("/") if rel_dir else [], project.seed_config)
        enabled = _truthy(_render_small(config.get("enabled", True), _flat_vars(project)))
        key = f"{project.name}.{name}"
        sid = ctx.nid("dbt.seed", key)
        columns = [h.strip().lower() for h in header if h.strip()]
        result.facts.update({"kind": "seed", "name": name, "id": sid, "columns": columns,
                             "package": project.name, "enabled": enabled,
                             "config": {k: v for k, v in config.items() if isinstance(v, str | int | float)}})
        if not enabled:
            return
        result.nodes.append(Node(id=sid, type="dbt.seed", scope=ctx.repo_id, key=key, name=name,
                                 path=file.path, props={"columns": columns}))
        result.edges.append(Edge(type="defined_in", src=sid, dst=ctx.file_id(file.path)))

    # -- project level --------------------------------------------------------------------
    def link(self, own: Sequence[FileResult], ctx: RepoContext) -> LinkResult:
        out = LinkResult()
        by_ws: dict[str, list[FileResult]] = {}
        for r in own:
            by_ws.setdefault(r.facts.get("workspace", r.facts.get("root", "")), []).append(r)
        for root, results in sorted(by_ws.items()):
            ws = workspace_of(root, ctx, self.profiles_dir)
            _ProjectLinker(self, ws, results, ctx, out).run()
        return out


def _macro_uses(called: set[str], package: str, root: str, runtime: _Runtime) -> set[str]:
    """Called names that are macros of the workspace, as "package.macro" (dbt's lookup order)."""
    found = set()
    for name in called:
        pkg, _, macro = name.rpartition(".")
        if pkg:
            if macro in runtime.macros.get(pkg, {}):
                found.add(name)
            continue
        for candidate in (package, root):
            if macro in runtime.macros.get(candidate, {}):
                found.add(f"{candidate}.{macro}")
                break
    return found


def _flat_vars(project: ProjectInfo) -> dict[str, Any]:
    scoped = project.vars.get(project.name)
    return {**project.vars, **(scoped if isinstance(scoped, dict) else {})}


def _norm_pkg(name: str) -> str:
    return name.lower().replace("-", "_").removeprefix("dbt_")


def _inside_package_but_not_one(root: str, ctx: RepoContext) -> bool:
    """True for a project folder that sits deeper inside an installed package than the package."""
    parts = root.split("/")
    for i in range(len(parts) - 1, 0, -1):
        candidate = "/".join(parts[:i])
        if ctx.exists(_join(candidate, "dbt_project.yml")) and owner_root(candidate, ctx) is not None:
            return True
    return False


def _as_list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _snapshot_name(text: str) -> str | None:
    marker = "snapshot"
    i = text.find("{%")
    while i != -1:
        inner = text[i + 2:].lstrip("-").lstrip()
        if inner.startswith(marker + " "):
            return inner[len(marker):].split()[0].strip().rstrip("-%}")
        i = text.find("{%", i + 2)
    return None


def _called_names(tree: nodes.Template) -> set[str]:
    """Macro names a template calls: ``name(...)`` and ``package.name(...)`` (as "package.name")."""
    names = set()
    for n in tree.find_all(nodes.Call):
        if isinstance(n.node, nodes.Name):
            names.add(n.node.name)
        elif isinstance(n.node, nodes.Getattr) and isinstance(n.node.node, nodes.Name):
            names.add(f"{n.node.node.name}.{n.node.attr}")
    return names


Key = tuple[str, str]  # (package, name)


class _ProjectLinker:
    """Resolves a workspace's refs and sources, merges schema YAML, runs lineage in dependency order."""

    def __init__(self, analyzer: DbtAnalyzer, ws: Workspace, results: list[FileResult],
                 ctx: RepoContext, out: LinkResult) -> None:
        self.a = analyzer
        self.ws = ws
        self.p = ws.root
        self.results = results
        self.ctx = ctx
        self.out = out
        self.emit = TableEmitter(ctx, out.nodes, out.edges)
        self.yaml = [r for r in results if r.facts.get("kind") == "schema_yaml"]
        self.model_yaml: dict[Key, dict[str, Any]] = {}
        self.sources: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in self.yaml:
            for key in ("models", "seeds", "snapshots"):
                for m in r.facts.get(key, []):
                    self.model_yaml[(r.facts["project"], str(m.get("name", "")))] = {**m, "__path": r.path}

        def enabled(r: FileResult) -> bool:
            spec = self.model_yaml.get((r.facts["package"], r.facts["name"])) or {}
            cfg = spec.get("config") if isinstance(spec.get("config"), dict) else {}
            return bool(r.facts.get("enabled", True)) and _truthy(cfg.get("enabled", True))

        def table(kind: str) -> dict[Key, FileResult]:
            return {(r.facts["package"], r.facts["name"]): r for r in results
                    if r.facts.get("kind") == kind and "package" in r.facts and enabled(r)}

        self.models = table("model")
        self.snapshots = table("snapshot")
        self.seeds = table("seed")
        self.runtime: _Runtime | None = None
        self.relations: dict[str, str] = {}

    # resolution -------------------------------------------------------------------------
    def _search(self, from_pkg: str) -> list[str]:
        """dbt's order for an unqualified ref/source: root project, the node's package, any."""
        order = [self.p.name, from_pkg]
        return list(dict.fromkeys(order + sorted(p.name for p in self.ws.projects())))

    def resolve(self, names: list[str], from_pkg: str) -> tuple[str, FileResult] | None:
        name = names[-1]
        packages = [names[0]] if len(names) == 2 else self._search(from_pkg)
        for pkg in packages:
            for table, node_type in ((self.models, "dbt.model"), (self.snapshots, "dbt.snapshot"),
                                     (self.seeds, "dbt.seed")):
                r = table.get((pkg, name))
                if r is not None:
                    return node_type, r
        return None

    def source(self, sname: str, tname: str, from_pkg: str) -> dict[str, Any] | None:
        for pkg in self._search(from_pkg):
            info = self.sources.get((pkg, sname, tname))
            if info is not None:
                return info
        return None

    # relation names ---------------------------------------------------------------------
    def relation(self, schema: str, name: str, database: str | None = None) -> str:
        db = database if database is not None else self.p.database
        return ".".join(p for p in (db, schema, name) if p).lower()

    def _generated(self, macro: str, r: FileResult, *args: Any) -> str | None:
        """The root project's own ``generate_schema_name``-style macro, if it defines one."""
        if self.runtime is None:
            return None
        found = self.runtime.macros.get(self.p.name, {}).get(macro)
        if found is None:
            return None
        project = self.ws.project(r.facts["package"]) or self.p
        recorder = _Recorder(project, r.facts["name"], self.ws.target(), r.path, r.facts["kind"])
        recorder.config.update(r.facts.get("config", {}))
        with self.runtime.lock:
            self.runtime.bind(recorder)
            try:
                node = dict(self.runtime.dyn["model"])
                value = call_macro(found, *args, node)
            except Exception:  # a failing naming macro leaves dbt's default
                return None
            finally:
                self.runtime.dyn.clear()
        text = str(value).strip() if value is not None else ""
        return text or None

    def model_relation(self, r: FileResult) -> str:
        cached = self.relations.get(r.facts["id"])
        if cached:
            return cached
        cfg = r.facts.get("config", {})
        if r.facts["kind"] == "snapshot":
            fqn = self.relation(str(cfg.get("target_schema") or cfg.get("schema") or self.p.schema),
                                r.facts["name"], cfg.get("target_database"))
        else:
            custom = cfg.get("schema") or None
            schema = self._generated("generate_schema_name", r, custom) or (
                self.p.schema + (f"_{custom}" if custom else ""))
            alias = self._generated("generate_alias_name", r, cfg.get("alias") or None) or str(
                cfg.get("alias") or r.facts["name"])
            fqn = self.relation(schema, alias, cfg.get("database"))
        self.relations[r.facts["id"]] = fqn
        return fqn

    def run(self) -> None:
        if any(r.facts.get("kind") in ("model", "snapshot", "seed") for r in self.results):
            self.runtime = runtime_of(self.ws, self.ctx)
        for r in self.results:
            pid = self.ctx.nid("dbt.project", r.facts.get("project", self.p.name))
            for n in r.nodes:
                if n.type != "dbt.project":
                    self.out.edges.append(Edge(type="belongs_to", src=n.id, dst=pid))
        self._read_sources()
        self._seeds()
        for r in [*self.models.values(), *self.snapshots.values()]:
            self._isolated(r.path, "dependencies", self._dependencies, r)
        self._lineage()
        self._tests()

    def _isolated(self, path: str, step: str, fn: Callable[..., Any], *args: Any) -> bool:
        """Run one node's share of the link step; a failure is that node's diagnostic.

        The link step is one unit for the engine: an exception escaping it (a model with 300
        nested subqueries overflowing the SQL parser's recursion, say) would drop every edge of
        the repository. Here it costs only the model that raised it; edges already emitted for it
        stay (each is valid on its own). ``MemoryError`` is the worker's budget, not this model's.
        """
        try:
            fn(*args)
            return True
        except MemoryError:
            raise
        except Exception as exc:  # any failure of one model is recorded on it
            message = (str(exc).splitlines() or [""])[0]
            self.out.diagnostics.append(self.a.diag(
                path, "link_failed", f"{step}: {type(exc).__name__}: {message}"[:300]))
            return False

    def _read_sources(self) -> None:
        for r in self.yaml:
            for src in r.facts.get("sources", []):
                sname = str(src.get("name", ""))
                for table in _as_list(src.get("tables")):
                    tname = str(table.get("name", ""))
                    self.sources[(r.facts["project"], sname, tname)] = {
                        "source": src, "table": table, "path": r.path, "package": r.facts["project"]}
        for (pkg, sname, tname), info in sorted(self.sources.items()):
            src, table = info["source"], info["table"]
            key = f"{pkg}.{sname}.{tname}"
            sid = self.ctx.nid("dbt.source", key)
            identifier = str(table.get("identifier") or tname)
            self.out.nodes.append(Node(
                id=sid, type="dbt.source", scope=self.ctx.repo_id, key=key, name=f"{sname}.{tname}",
                path=info["path"],
                props={"source_name": sname, "identifier": identifier,
                       "description": str(table.get("description") or src.get("description") or ""),
                       "loader": str(src.get("loader") or "")}))
            self.out.edges += [Edge(type="defined_in", src=sid, dst=self.ctx.file_id(info["path"])),
                               Edge(type="belongs_to", src=sid, dst=self.ctx.nid("dbt.project", pkg))]
            database = src.get("database")
            fqn = self.relation(str(src.get("schema") or sname), identifier,
                                str(database) if isinstance(database, str) and "{{" not in database else None)
            info["fqn"] = fqn
            info["id"] = sid
            self.out.edges.append(Edge(type="materializes_as", src=sid, dst=self.emit.table(fqn)))
            for col in _as_list(table.get("columns")):
                self.emit.column(fqn, str(col.get("name", "")).lower(), str(col.get("description") or ""))

    def seed_relation(self, r: FileResult) -> str:
        cfg = r.facts.get("config", {})
        custom = cfg.get("schema") or None
        schema = self._generated("generate_schema_name", r, custom) or (
            self.p.schema + (f"_{custom}" if custom else ""))
        return self.relation(schema, str(cfg.get("alias") or r.facts["name"]), cfg.get("database"))

    def _seeds(self) -> None:
        for _key, r in sorted(self.seeds.items()):
            fqn = self.seed_relation(r)
            self.relations[r.facts["id"]] = fqn
            self.out.edges.append(Edge(type="materializes_as", src=r.facts["id"], dst=self.emit.table(fqn)))
            for col in r.facts.get("columns", []):
                self.emit.column(fqn, col)

    def _dependencies(self, r: FileResult) -> None:
        src = r.facts["id"]
        pkg = r.facts["package"]
        confidence = float(r.facts.get("confidence", 1.0))
        props = {"via": "jinja_syntax_tree"} if confidence < 1.0 else {}
        for names in r.facts.get("refs", []):
            found = self.resolve(names, pkg)
            if found is None:
                self.out.diagnostics.append(self.a.diag(r.path, "unresolved_ref",
                                                        f"ref({', '.join(names)}) matches no node",
                                                        severity="warning"))
            elif found[1].facts["id"] != src:
                self.out.edges.append(Edge(type="depends_on", src=src, dst=found[1].facts["id"],
                                           confidence=confidence, props=props))
        for sname, tname in r.facts.get("sources", []):
            info = self.source(sname, tname, pkg)
            if info is None:
                self.out.diagnostics.append(self.a.diag(r.path, "unresolved_source",
                                                        f"source({sname}, {tname}) is not declared",
                                                        severity="warning"))
            else:
                self.out.edges.append(Edge(type="depends_on", src=src, dst=info["id"],
                                           confidence=confidence, props=props))
        for macro in r.facts.get("macros", []):
            owner, _, name = macro.rpartition(".")
            self.out.edges.append(Edge(type="uses_macro", src=src,
                                       dst=self.ctx.nid("dbt.macro", f"{owner or pkg}.{name}")))

    def _order(self) -> list[FileResult]:
        nodes_: dict[tuple[str, str, str], FileResult] = {
            **{("m", *k): v for k, v in self.models.items()},
            **{("s", *k): v for k, v in self.snapshots.items()}}
        order: list[FileResult] = []
        state: set[tuple[str, str, str]] = set()

        def visit(key: tuple[str, str, str]) -> None:
            stack: list[tuple[tuple[str, str, str], bool]] = [(key, False)]
            while stack:
                k, done = stack.pop()
                if done:
                    order.append(nodes_[k])
                    continue
                if k in state:
                    continue
                state.add(k)
                stack.append((k, True))
                r = nodes_[k]
                for names in reversed(r.facts.get("refs", [])):
                    found = self.resolve(names, r.facts["package"])
                    if found is not None and found[0] == "dbt.model":
                        dep = ("m", found[1].facts["package"], found[1].facts["name"])
                        if dep not in state:
                            stack.append((dep, False))

        for key in sorted(nodes_):
            visit(key)
        return order

    def _lineage(self) -> None:
        schema: dict[str, dict[str, str]] = {}
        for info in self.sources.values():
            cols = [str(c.get("name", "")).lower() for c in _as_list(info["table"].get("columns"))]
            if cols:
                schema[info["fqn"]] = dict.fromkeys(cols, "unknown")
        for r in self.seeds.values():
            if r.facts.get("columns"):
                schema[self.relations[r.facts["id"]]] = dict.fromkeys(r.facts["columns"], "unknown")
        ephemeral: dict[str, exp.Query] = {}
        for r in self._order():
            self._isolated(r.path, "lineage", self._lineage_of, r, schema, ephemeral)

    def _lineage_of(self, r: FileResult, schema: dict[str, dict[str, str]],
                    ephemeral: dict[str, exp.Query]) -> None:
        """One model's relation, columns and column lineage; adds its columns to ``schema``."""
        fqn = self.model_relation(r)
        is_ephemeral = r.facts.get("materialized") == "ephemeral"
        if not is_ephemeral:
            self.out.edges.append(Edge(type="materializes_as", src=r.facts["id"],
                                       dst=self.emit.table(fqn)))
        rendered = r.facts.get("rendered", "")
        if r.facts.get("introspects") and float(r.facts.get("confidence", 1.0)) >= 1.0:
            rendered = self._rerender(r, schema) or rendered
        if not rendered.strip():
            return
        try:
            stmt = parse_one(rendered, self.p.dialect)
        except SqlglotError as exc:
            self.out.diagnostics.append(self.a.diag(r.path, "sql_parse_error",
                                                    str(exc).splitlines()[0][:300], severity="warning"))
            return
        if stmt is None:
            return
        self._swap_placeholders(stmt, r)
        info = describe_statement(stmt)
        sources = {k: v for k, v in ephemeral.items() if k in info.reads}
        # Only the relations this statement reads: handing over the whole warehouse would make
        # every model pay for every other model's columns (quadratic in the project's size).
        wanted = {k: schema[k] for k in info.reads if k in schema}
        add_column_lineage(info, stmt, self.p.dialect, wanted, sources)
        if info.lineage_error:
            self.out.diagnostics.append(self.a.diag(r.path, "lineage_incomplete", info.lineage_error,
                                                    severity="warning"))
        if is_ephemeral and isinstance(stmt, exp.Query):
            ephemeral[f"{REF_PREFIX}{r.facts['name']}".lower()] = stmt
            return
        if info.columns:
            schema[fqn] = dict.fromkeys(info.columns, "unknown")
        spec = self.model_yaml.get((r.facts["package"], r.facts["name"]), {})
        described = {str(c.get("name", "")).lower(): str(c.get("description") or "")
                     for c in _as_list(spec.get("columns"))}
        for column in info.columns:
            if column != "*":
                self.emit.column(fqn, column, described.get(column, ""))
        self.emit.lineage(fqn, info.columns)

    def _placeholder_columns(self, name: str, r: FileResult,
                             schema: Mapping[str, Mapping[str, str]]) -> list[str]:
        """Known columns of the relation a placeholder stands for (none for ephemeral models)."""
        fqn: str | None = None
        if name.startswith(REF_PREFIX):
            found = self.resolve([name[len(REF_PREFIX):]], r.facts["package"])
            if found is not None and found[1].facts.get("materialized") != "ephemeral":
                dep = found[1]
                fqn = self.relations.get(dep.facts["id"]) if dep.facts["kind"] == "seed" else \
                    self.model_relation(dep)
        elif name.startswith(SRC_PREFIX):
            sname, _, tname = name[len(SRC_PREFIX):].partition("__")
            info = self.source(sname, tname, r.facts["package"])
            fqn = info["fqn"] if info else None
        return [c for c in (schema.get(fqn) or {}) if c != "*"] if fqn else []

    def _rerender(self, r: FileResult, schema: Mapping[str, Mapping[str, str]]) -> str | None:
        """Render a model that asked the warehouse for columns again, now that upstream columns are
        known: ``dbt_utils.unpivot``/``star``-style macros then give the SQL ``dbt compile`` would."""
        text = self.ctx.text(r.path)
        project = self.ws.project(r.facts["package"])
        if text is None or project is None or self.runtime is None:
            return None
        recorder = _Recorder(project, r.facts["name"], self.ws.target(), r.path, r.facts["kind"])
        recorder.catalog = lambda placeholder: self._placeholder_columns(placeholder, r, schema)
        with self.runtime.lock:
            self.runtime.bind(recorder)
            try:
                return self.runtime.render(_PARSER.parse(text), project.name)
            except Exception:  # the first rendering stands
                return None
            finally:
                self.runtime.dyn.clear()

    def _swap_placeholders(self, stmt: exp.Expr, r: FileResult) -> None:
        pkg = r.facts["package"]
        for table in list(stmt.find_all(exp.Table)):
            name = table.name
            if name.startswith(REF_PREFIX):
                target = name[len(REF_PREFIX):]
                found = self.resolve([target], pkg) if target != r.facts["name"] else ("self", r)
                dep = found[1] if found is not None else None
                if dep is not None and dep.facts.get("materialized") == "ephemeral" and dep is not r:
                    continue  # stays a placeholder; lineage inlines it through ``sources``
                if dep is None:
                    fqn = self.relation(self.p.schema, target)
                elif dep.facts["kind"] == "seed":
                    fqn = self.relations.get(dep.facts["id"]) or self.seed_relation(dep)
                else:
                    fqn = self.model_relation(dep)
            elif name.startswith(SRC_PREFIX):
                sname, _, tname = name[len(SRC_PREFIX):].partition("__")
                info = self.source(sname, tname, pkg)
                fqn = info["fqn"] if info else self.relation(sname, tname)
            else:
                continue
            parts = fqn.split(".")
            alias = table.args.get("alias")
            # Built directly: parsing "db.schema.name" back through sqlglot costs a parse per table.
            args: dict[str, Any] = {"this": exp.to_identifier(parts[-1])}
            if len(parts) > 1:
                args["db"] = exp.to_identifier(parts[-2])
            if len(parts) > 2:
                args["catalog"] = exp.to_identifier(".".join(parts[:-2]))
            new = exp.Table(**args)
            if alias is not None:
                new.set("alias", alias)
            elif table_fqn(table) != parts[-1]:
                new.set("alias", exp.TableAlias(this=exp.to_identifier(parts[-1])))
            table.replace(new)

    def _tests(self) -> None:
        for (pkg, name), spec in sorted(self.model_yaml.items()):
            self._isolated(str(spec.get("__path", "")), "tests", self._tests_of, pkg, name, spec)

    def _tests_of(self, pkg: str, name: str, spec: dict[str, Any]) -> None:
        found = self.resolve([pkg, name], pkg)
        if found is None:
            return
        target = found[1].facts["id"]
        path = spec["__path"]
        for test, column in self._declared_tests(spec):
            test_name = test if isinstance(test, str) else next(iter(test), "")
            kwargs = test.get(test_name) if isinstance(test, dict) else None
            kwargs = kwargs if isinstance(kwargs, dict) else {}
            if isinstance(kwargs.get("arguments"), dict):  # dbt >= 1.10 nests them
                kwargs = {**kwargs, **kwargs.pop("arguments")}
            key = f"{pkg}.{test_name}.{name}" + (f".{column}" if column else "")
            tid = self.ctx.nid("dbt.test", key)
            self.out.nodes.append(Node(
                id=tid, type="dbt.test", scope=self.ctx.repo_id, key=key, name=test_name, path=path,
                props={"test_name": test_name, "column": column or "",
                       "kwargs": {k: v for k, v in kwargs.items()
                                  if isinstance(v, str | int | float | list)}}))
            self.out.edges += [Edge(type="tests", src=tid, dst=target),
                               Edge(type="defined_in", src=tid, dst=self.ctx.file_id(path)),
                               Edge(type="belongs_to", src=tid, dst=self.ctx.nid("dbt.project", pkg))]
            to = kwargs.get("to") if test_name == "relationships" else None
            if isinstance(to, str) and to.startswith("ref("):
                other = self.resolve([to[4:].strip("()'\" ")], pkg)
                if other is not None:
                    self.out.edges.append(Edge(type="tests", src=tid, dst=other[1].facts["id"]))

    @staticmethod
    def _declared_tests(spec: dict[str, Any]) -> list[tuple[Any, str | None]]:
        found: list[tuple[Any, str | None]] = []
        for key in ("data_tests", "tests"):
            for t in spec.get(key) or []:
                found.append((t, None))
        for col in _as_list(spec.get("columns")):
            for key in ("data_tests", "tests"):
                for t in col.get(key) or []:
                    found.append((t, str(col.get("name", "")).lower()))
        return [(t, c) for t, c in found if isinstance(t, str | dict)]
