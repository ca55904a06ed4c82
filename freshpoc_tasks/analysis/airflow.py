"""Airflow DAG analyzer: DAGs, tasks, dependencies and the SQL tasks run, from ``ast`` alone.

DAG files are never imported (importing runs top-level code and needs every provider installed).
Instead a small abstract interpreter walks the module the way Python would run it, over a
handful of value kinds that mirror Airflow's objects: DAGs, task groups, operators, XComArgs
(TaskFlow results), edge labels and decorated functions. Concrete Python values (strings, numbers,
lists, dicts, ``range``) are computed where they are literal, so task ids built in loops, by
f-strings, by helper functions or from module constants come out as Airflow would build them;
what stays unknown is recorded as a pattern (``load_*``) with a diagnostic.

The dependency rules follow Airflow's own code (``airflow.sdk``): ``>>``/``<<`` and
``set_upstream``/``set_downstream`` (a list on either side), ``chain`` (two lists in a row pair
element by element), ``chain_linear`` and ``cross_downstream`` (every to every), ``Label`` edge
modifiers, task groups (ids prefixed ``group.task`` unless ``prefix_group_id=False``; a group
as an upstream means its leaves, as a downstream its roots, computed when the statement runs),
``@task_group`` expansion with ``__1`` suffixes, TaskFlow data dependencies (an XComArg — a task
call's result, ``.output``, ``result["key"]`` — passed to another task), ``.override``,
``.partial().expand()``, ``@setup``/``@teardown``/``as_teardown(setups=...)`` and the edges a
setup/teardown context manager adds, ``@dag`` functions (a DAG exists once the function is
called) and ``@asset`` (one DAG with one task).

Output is bounded: loops, interpreted calls and the number of dependency edges per file are
capped, with a diagnostic, so a hostile ``list >> list`` cannot exhaust memory.

SQL given to SQL operators (inline or a ``.sql`` file in the repository) goes through the shared
SQL core, so tasks link to the tables they read and write.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlglot.errors import SqlglotError

from freshpoc_tasks.analysis.base import AnalysisError, Analyzer
from freshpoc_tasks.analysis.model import Budget, FileResult, RepoContext, SourceFile
from freshpoc_tasks.analysis.python import dotted, module_name
from freshpoc_tasks.analysis.sql import render_templated_sql, statement_graph
from freshpoc_tasks.analysis.sqlcore import analyse_sql
from freshpoc_tasks.contracts.graph import Edge, Node

OPERATOR_DIALECTS = {
    "PostgresOperator": "postgres", "SnowflakeOperator": "snowflake", "SnowflakeSqlApiOperator": "snowflake",
    "BigQueryInsertJobOperator": "bigquery", "BigQueryExecuteQueryOperator": "bigquery",
    "MySqlOperator": "mysql", "TrinoOperator": "trino", "MsSqlOperator": "tsql", "RedshiftSQLOperator":
    "redshift", "DatabricksSqlOperator": "databricks", "SparkSqlOperator": "spark",
}

# Per-file output bounds, kept well inside the engine's per-file output budget
# (``AnalysisConfig.max_output_items``; a task costs three items: its node and two edges).
MAX_EDGES = 20_000        # dependency edges per file; beyond this the file is capped
MAX_TASKS = 5_000         # tasks per file
MAX_LOOP = 5_000          # iterations of one loop or comprehension
MAX_STEPS = 200_000       # loop iterations and comprehension items in all, per file
MAX_STR = 10_000          # longest string computed (longer ones are unknown)
MAX_ITEMS = 100_000       # longest list computed
MAX_CALL_DEPTH = 24       # nested interpreted calls (recursive helpers)
MAX_MODULES = 64          # repository modules loaded for one DAG file
MAX_DATA_BYTES = 1 << 20  # JSON/YAML config files read at parse time
WILDCARD = "*"            # stands for the unknown part of a dynamic id


def _is_sql_operator(cls: str) -> bool:
    return cls in OPERATOR_DIALECTS or "SQL" in cls or "Sql" in cls or cls.endswith("CheckOperator")


def _literal(node: ast.AST | None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


# -- values of the abstract interpreter ---------------------------------------------------------

class _Unknown:
    """A value the analysis cannot know (a runtime result, an import, a parameter)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class _Pattern:
    """A string whose unknown parts are wildcards, e.g. the id ``f"load_{table}"`` → ``load_*``."""

    text: str


@dataclass(eq=False)
class _Dag:
    dag_id: str
    id: str
    template_paths: list[str] = field(default_factory=list)
    tasks: dict[str, _Task] = field(default_factory=dict)          # full task_id -> task
    used_ids: set[str] = field(default_factory=set)                # task and group ids
    up: dict[str, list[str]] = field(default_factory=dict)         # task_id -> upstream ids
    down: dict[str, list[str]] = field(default_factory=dict)
    edges: dict[tuple[str, str], None] = field(default_factory=dict)


@dataclass(eq=False)
class _Task:
    dag: _Dag
    task_id: str
    node_id: str
    is_setup: bool = False
    is_teardown: bool = False
    group: _Group | None = None


@dataclass(eq=False)
class _Group:
    dag: _Dag
    group_id: str | None
    prefix: bool = True
    children: list[Any] = field(default_factory=list)   # _Task | _Group
    parent: _Group | None = None
    upstream: list[_Task] = field(default_factory=list)  # tasks set upstream of the group itself

    def child_id(self, label: str) -> str:
        return f"{self.group_id}.{label}" if self.prefix and self.group_id else label

    def tasks(self) -> Iterator[_Task]:
        for c in self.children:
            if isinstance(c, _Group):
                yield from c.tasks()
            else:
                yield c


@dataclass(eq=False)
class _Orphan:
    """An operator made outside any DAG; it joins the DAG of the first task linked to it."""

    cls: str
    args: list[Any]
    kwargs: dict[str, Any]
    call: ast.Call
    task: _Task | None = None


@dataclass(eq=False)
class _XArg:
    """A TaskFlow result / ``.output``: data from these tasks, and a dependency on them."""

    tasks: list[_Task]


@dataclass(eq=False)
class _Label:
    """``Label("...")`` (Airflow's EdgeModifier): links whatever is set upstream of it to whatever is
    set downstream of it, in either order."""

    ups: list[Any] = field(default_factory=list)
    downs: list[Any] = field(default_factory=list)


@dataclass(eq=False)
class _File:
    """``__file__``, ``Path(__file__)`` and friends: a repository-relative path."""

    path: str


@dataclass(eq=False)
class _Handle:
    """An opened repository file (``open(...)``), read only as data (JSON, YAML, text)."""

    path: str


@dataclass(eq=False)
class _Func:
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    scope: _Scope
    kind: str = "plain"            # plain | task | task_group | dag
    options: dict[str, Any] = field(default_factory=dict)   # decorator / override kwargs
    setup: bool = False
    teardown: bool = False
    operator: str = "@task"
    line: int = 0
    deco: ast.Call | None = None    # the @dag(...) call, for the DAG's properties
    foreign: bool = False           # defined in another module of the repository

    @property
    def name(self) -> str:
        return getattr(self.node, "name", "<lambda>")


@dataclass(eq=False)
class _Partial:
    """``Op.partial(...)`` / ``task_fn.partial(...)``, waiting for ``.expand(...)``."""

    target: Any                    # _Func or operator class name (str)
    args: list[Any]
    kwargs: dict[str, Any]
    call: ast.Call


@dataclass(eq=False)
class _Class:
    name: str
    is_operator: bool
    is_group: bool = False                  # a TaskGroup subclass defined in the file
    init: _Func | None = None               # its __init__, run when it is instantiated
    methods: dict[str, _Func] = field(default_factory=dict)   # by name; operator="static"/"class"
    attrs: dict[str, Any] = field(default_factory=dict)       # class-level constants


@dataclass(eq=False)
class _Instance:
    """An object of a plain class of the repository (a DAG or task factory class)."""

    cls: _Class
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class _Bound:
    func: _Func
    first: Any            # self or cls; None for a staticmethod


@dataclass(eq=False)
class _Method:
    """A bound method of an interpreter value, resolved when called."""

    obj: Any
    name: str


@dataclass(eq=False)
class _Ref:
    """A name the module imports or a dotted attribute of it; used to recognise callees."""

    name: str


@dataclass(eq=False)
class _Scope:
    vars: dict[str, Any] = field(default_factory=dict)
    parent: _Scope | None = None

    def lookup(self, name: str) -> Any:
        s: _Scope | None = self
        while s is not None:
            if name in s.vars:
                return s.vars[name]
            s = s.parent
        return _Ref(name)


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _StopFile(Exception):
    """Raised when a file exceeds an output bound; what was found so far is kept."""


@dataclass(eq=False)
class _StContext:
    """An active ``with <setup or teardown task>:`` block (Airflow's SetupTeardownContext)."""

    teardown_mode: bool
    tasks: list[_Task]
    partners: list[_Task]           # teardowns downstream of the setups, or setups upstream of the teardowns
    work: list[_Task] = field(default_factory=list)

    @property
    def setups(self) -> list[_Task]:
        return self.partners if self.teardown_mode else self.tasks

    @property
    def teardowns(self) -> list[_Task]:
        return self.tasks if self.teardown_mode else self.partners


class AirflowAnalyzer(Analyzer):
    name = "airflow"
    version = "2.2.1"

    def accepts(self, file: SourceFile, ctx: RepoContext) -> bool:
        return file.suffix == ".py" and b"airflow" in file.content

    def context_fingerprint(self, file: SourceFile, ctx: RepoContext) -> str:
        # SQL files the DAG may name live next to it, and the repository's modules it imports
        # (task factories, TaskGroup subclasses) are interpreted with it: their shas change the result.
        folder = posixpath.dirname(file.path)
        shas = [f"{p}={ctx.files[p].blob_sha}" for p in sorted(ctx.paths())
                if p.endswith(".sql") and p.startswith(folder)]
        shas += [f"{p}={ctx.files[p].blob_sha}" for p in sorted(_imported_modules(file, ctx))]
        shas += [f"{p}={ctx.files[p].blob_sha}" for p in sorted(_data_files(file, ctx))]
        return "|".join([ctx.config.fingerprint(), module_name(file.path, ctx)[0], *shas])

    def _analyze(self, file: SourceFile, text: str, ctx: RepoContext, budget: Budget) -> FileResult:
        try:
            tree = ast.parse(text, filename=file.path)
        except SyntaxError as exc:
            raise AnalysisError("syntax_error", exc.msg, exc.lineno) from None
        except ValueError as exc:
            raise AnalysisError("syntax_error", str(exc)) from None
        result = FileResult(path=file.path, analyzer=self.name)
        _DagFile(self, tree, file, ctx, result, budget).run()
        return result


def _last(name: str) -> str:
    return name.rpartition(".")[2]


def _callee_name(value: Any, expr: ast.expr) -> str:
    """The dotted name a call goes to, for recognising Airflow's API by name."""
    if isinstance(value, _Ref):
        return value.name
    return dotted(expr) or ""


TASK_DECORATOR_ROOTS = ("task", "setup", "teardown")


class _DagFile:
    def __init__(self, analyzer: AirflowAnalyzer, tree: ast.Module, file: SourceFile, ctx: RepoContext,
                 result: FileResult, budget: Budget) -> None:
        self.a = analyzer
        self.tree = tree
        self.file = file
        self.ctx = ctx
        self.result = result
        self.budget = budget
        self.module_id = ctx.nid("py.module", module_name(file.path, ctx)[0])
        self.dags: dict[str, _Dag] = {}
        self.dag_stack: list[_Dag | None] = []
        self.group_stack: list[_Group | None] = []
        self.roots: dict[int, _Group] = {}          # id(dag) -> root group
        self.st_stack: list[_StContext] = []
        self.depth = 0
        self.n_edges = 0
        self.n_tasks = 0
        self.steps = 0
        items = getattr(ctx.config, "max_output_items", None)
        self.max_edges = min(MAX_EDGES, items * 2 // 5) if isinstance(items, int) else MAX_EDGES
        self.max_tasks = min(MAX_TASKS, items // 10) if isinstance(items, int) else MAX_TASKS
        self.reported: set[tuple[str, int]] = set()
        self.optional_names: set[str] = set()          # bound again when an import fails
        self.conditions: list[str] = []                # optional names the current code is under
        self.modules: dict[str, _Scope | None] = {}    # repository modules imported, by path
        self.importing = 0                             # > 0 while a module of the repo is loaded
        self.site: list[int] = []                      # call lines in this file, for spans

    # -- entry ------------------------------------------------------------------------------
    def run(self) -> None:
        scope = _Scope({"__file__": _File(self.file.path), "__name__": UNKNOWN})
        try:
            self._block(self.tree.body, scope)
        except _StopFile:
            pass
        except _Return:
            pass
        for dag in self.dags.values():
            self.result.edges += [Edge(type="upstream_of", src=dag.tasks[u].node_id, dst=dag.tasks[d].node_id)
                                  for (u, d) in dag.edges]

    def _diag(self, code: str, message: str, line: int | None) -> None:
        if (code, line or 0) in self.reported:
            return
        self.reported.add((code, line or 0))
        self.result.diagnostics.append(self.a.diag(self.file.path, code, message, line, severity="warning"))

    # -- context ----------------------------------------------------------------------------
    @property
    def cur_dag(self) -> _Dag | None:
        return self.dag_stack[-1] if self.dag_stack else None

    def cur_group(self, dag: _Dag) -> _Group:
        for g in reversed(self.group_stack):
            if g is not None and g.dag is dag:
                return g
        return self.roots[id(dag)]

    # -- statements -------------------------------------------------------------------------
    def _block(self, body: list[ast.stmt], scope: _Scope) -> None:
        for stmt in body:
            self._stmt(stmt, scope)

    def _stmt(self, stmt: ast.stmt, scope: _Scope) -> None:
        self.budget.check()
        if isinstance(stmt, ast.Expr):
            self._eval(stmt.value, scope)
        elif isinstance(stmt, ast.Assign):
            value = self._eval(stmt.value, scope)
            for t in stmt.targets:
                self._assign(t, value, scope)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self._assign(stmt.target, self._eval(stmt.value, scope), scope)
        elif isinstance(stmt, ast.AugAssign):
            value = self._eval(stmt.value, scope)
            if isinstance(stmt.target, ast.Name):
                cur = scope.lookup(stmt.target.id)
                scope.vars[stmt.target.id] = self._binop(stmt.op, cur, value)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            self._define(stmt, scope)
        elif isinstance(stmt, ast.ClassDef):
            bases = [dotted(b) or "" for b in stmt.bases]
            local = [c for b in bases if isinstance(c := scope.lookup(b), _Class)]
            is_op = any(_last(b).endswith(("Operator", "Sensor")) for b in bases) or any(
                c.is_operator for c in local)
            is_group = any(_last(b) == "TaskGroup" for b in bases) or any(c.is_group for c in local)
            # methods (inherited ones from classes of this file first), for groups and factories
            methods: dict[str, _Func] = {}
            for c in reversed(local):
                methods.update(c.methods)
            for f in stmt.body:
                if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef):
                    decos = {_last(dotted(d) or "") for d in f.decorator_list}
                    kind = "static" if "staticmethod" in decos else "class" if "classmethod" in decos else ""
                    methods[f.name] = _Func(node=f, scope=scope, line=f.lineno, foreign=self.importing > 0,
                                            operator=kind)
            attrs = {t.id: self._eval(f.value, scope) for f in stmt.body if isinstance(f, ast.Assign)
                     for t in f.targets if isinstance(t, ast.Name)}
            scope.vars[stmt.name] = _Class(stmt.name, is_op, is_group, methods.get("__init__") if is_group
                                           else None, methods, attrs)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            asked = [a.name for a in stmt.names]
            module = self._import(stmt.module, stmt.level, stmt.lineno, asked) \
                if isinstance(stmt, ast.ImportFrom) else None
            for alias in stmt.names:
                name = alias.asname or alias.name.partition(".")[0]
                imported = alias.asname or isinstance(stmt, ast.ImportFrom)
                value: Any = _Ref(alias.name if imported else alias.name.partition(".")[0])
                if module is not None and alias.name in module.vars:
                    value = module.vars[alias.name]
                elif isinstance(stmt, ast.ImportFrom):
                    submodule = f"{stmt.module or ''}.{alias.name}".lstrip(".")
                    sub = self._import(submodule, stmt.level, stmt.lineno, [])
                    value = sub if sub is not None else value
                elif alias.asname:
                    sub = self._import(alias.name, 0, stmt.lineno, [])
                    value = sub if sub is not None else value
                scope.vars[name] = value
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            self._for(stmt, scope)
        elif isinstance(stmt, ast.While):
            self._block(stmt.body, scope)
        elif isinstance(stmt, ast.If):
            test = self._eval(stmt.test, scope)
            if self._concrete(test):
                self._block(stmt.body if test else stmt.orelse, scope)
            else:
                guards = sorted({n.id for n in ast.walk(stmt.test) if isinstance(n, ast.Name)}
                                & self.optional_names)
                self.conditions += guards
                try:
                    self._block(stmt.body, scope)
                    self._block(stmt.orelse, scope)
                finally:
                    del self.conditions[len(self.conditions) - len(guards):]
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            self._with(stmt, scope)
        elif isinstance(stmt, ast.Try):
            # the handlers are the fallback path (a missing optional import): the body is the DAG.
            # Names an ImportError handler rebinds are optional imports: code under a test on them
            # exists only where the package is installed, which is said in a diagnostic.
            for handler in stmt.handlers:
                kinds = {_last(dotted(t) or "") for t in (handler.type.elts if isinstance(
                    handler.type, ast.Tuple) else [handler.type]) if t is not None}
                if kinds & {"ImportError", "ModuleNotFoundError", "Exception"} or handler.type is None:
                    self.optional_names |= {n.id for h in handler.body for n in ast.walk(h)
                                            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            self._block(stmt.body, scope)
            self._block(stmt.orelse, scope)
            self._block(stmt.finalbody, scope)
        elif isinstance(stmt, ast.Return):
            raise _Return(self._eval(stmt.value, scope) if stmt.value is not None else None)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                self._block(case.body, scope)

    def _import(self, module_name: str | None, level: int, line: int, names: list[str]) -> _Scope | None:
        """Load a module of this repository the DAG file imports from (``include/factory.py``).

        Only its definitions run (functions, classes, constants, its own imports): what the DAG
        file calls from it is then interpreted like local code, as Python would. Airflow's own
        package is never loaded from the repository, nor anything outside it. A module that
        never mentions Airflow cannot make tasks: it is read only for the constants asked of it
        (``from include.config import TABLES``), so importing a big library costs nothing.
        """
        path = _resolve_import(self.file.path, module_name, level, self.ctx)
        if path is None or path == self.file.path:
            return None
        if path in self.modules:
            return self.modules[path]
        text = self.ctx.text(path) or ""
        tasks_possible = "airflow" in text
        if not tasks_possible and not any(n.isupper() for n in names):
            return None
        self.modules[path] = None   # an import cycle sees an empty module
        if len(self.modules) > MAX_MODULES:
            self._diag("imports_capped", f"more than {MAX_MODULES} repository modules imported", line)
            return None
        try:
            tree = ast.parse(text, filename=path)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None
        module = _Scope({"__file__": _File(path), "__name__": UNKNOWN})
        kinds: tuple[type, ...] = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import,
                                   ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.Try)
        if not tasks_possible:
            kinds = (ast.Assign, ast.AnnAssign)
        self.importing += 1
        try:
            for node in tree.body:
                if isinstance(node, kinds):
                    self._stmt(node, module)
        except _Return:
            pass
        finally:
            self.importing -= 1
        self.modules[path] = module
        return module

    def _assign(self, target: ast.expr, value: Any, scope: _Scope) -> None:
        if isinstance(target, ast.Name):
            scope.vars[target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            if isinstance(value, list | tuple) and len(value) == len(target.elts) and not any(
                    isinstance(e, ast.Starred) for e in target.elts):
                for t, v in zip(target.elts, value, strict=True):
                    self._assign(t, v, scope)
            else:
                for t in target.elts:
                    self._assign(t.value if isinstance(t, ast.Starred) else t, UNKNOWN, scope)
        elif isinstance(target, ast.Attribute):
            obj = self._eval(target.value, scope)
            if isinstance(obj, _Instance):
                obj.vars[target.attr] = value
            elif isinstance(obj, _Orphan) and target.attr == "dag" and isinstance(value, _Dag):
                self._adopt(obj, value)
        elif isinstance(target, ast.Subscript):
            container = self._eval(target.value, scope)
            key = self._eval(target.slice, scope)
            if isinstance(container, dict) and self._concrete(key):
                with contextlib.suppress(TypeError):
                    container[key] = value

    def _for(self, stmt: ast.For | ast.AsyncFor, scope: _Scope) -> None:
        items = self._iterable(self._eval(stmt.iter, scope))
        if items is None:
            # unknown iteration: run the body once so its tasks are found (their ids become patterns)
            self._assign(stmt.target, UNKNOWN, scope)
            self._block(stmt.body, scope)
            return
        for n, item in enumerate(items):
            if n >= MAX_LOOP:
                self._diag("loop_capped", f"loop stopped after {MAX_LOOP} iterations", stmt.lineno)
                break
            self._step(stmt.lineno)
            self._assign(stmt.target, item, scope)
            self._block(stmt.body, scope)
        self._block(stmt.orelse, scope)

    def _step(self, line: int) -> None:
        """One more loop iteration; nested loops share one bound per file."""
        self.budget.check()
        self.steps += 1
        if self.steps > MAX_STEPS:
            self._diag("steps_capped",
                       f"more than {MAX_STEPS} loop iterations; the rest of the file is skipped", line)
            raise _StopFile

    @staticmethod
    def _iterable(value: Any) -> list[Any] | None:
        if isinstance(value, list | tuple):
            return list(value)
        if isinstance(value, range):
            return list(value[:MAX_LOOP + 1])
        if isinstance(value, dict):
            return list(value)
        if isinstance(value, str):
            return list(value)
        if isinstance(value, set | frozenset):
            try:
                return sorted(value)
            except TypeError:
                return list(value)
        return None

    def _with(self, stmt: ast.With | ast.AsyncWith, scope: _Scope) -> None:
        pushed_dags = pushed_groups = 0
        st: list[_StContext] = []
        for item in stmt.items:
            value = self._eval(item.context_expr, scope)
            if isinstance(value, _Dag):
                self.dag_stack.append(value)
                pushed_dags += 1
            elif isinstance(value, _Group):
                self.group_stack.append(value)
                pushed_groups += 1
            else:
                ctx = self._st_context(value)
                if ctx is not None:
                    self.st_stack.append(ctx)
                    st.append(ctx)
            if item.optional_vars is not None:
                self._assign(item.optional_vars, value, scope)
        try:
            self._block(stmt.body, scope)
        finally:
            for _ in range(pushed_dags):
                self.dag_stack.pop()
            for _ in range(pushed_groups):
                self.group_stack.pop()
            for ctx in reversed(st):
                self.st_stack.pop()
                self._st_exit(ctx)
                if self.st_stack:
                    # Airflow links nested contexts: outer setups >> inner setups, inner
                    # teardowns >> outer teardowns
                    outer = self.st_stack[-1]
                    self._depend(outer.setups, ctx.setups)
                    self._depend(ctx.teardowns, outer.teardowns)

    # -- definitions ------------------------------------------------------------------------
    def _define(self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope) -> None:
        func = _Func(node=node, scope=scope, line=node.lineno, foreign=self.importing > 0)
        asset: tuple[str, dict[str, Any]] | None = None
        for dec in reversed(node.decorator_list):
            target = dec.func if isinstance(dec, ast.Call) else dec
            tval = self._eval(target, scope)
            name = _callee_name(tval, target)
            kwargs = self._kwargs(dec, scope) if isinstance(dec, ast.Call) else {}
            parts = name.split(".")
            last = parts[-1]
            if isinstance(tval, _Func):   # a local decorator: unknown effect
                continue
            if (last in ("setup", "teardown") and len(parts) <= 2) or name.endswith(
                    ("decorators.setup", "decorators.teardown")):
                func.kind = "task"
                func.setup = func.setup or last == "setup"
                func.teardown = func.teardown or last == "teardown"
            elif last == "task_group" or name.endswith("decorators.task_group"):
                func.kind = "task_group"
                func.options.update(kwargs)
                if isinstance(dec, ast.Call) and dec.args:
                    func.options.setdefault("group_id", self._eval(dec.args[0], scope))
            elif last == "dag" and (len(parts) == 1 or parts[-2] in ("sdk", "decorators", "airflow")):
                func.kind = "dag"
                func.options.update(kwargs)
                func.deco = dec if isinstance(dec, ast.Call) else None
                if isinstance(dec, ast.Call) and dec.args:
                    func.options.setdefault("dag_id", self._eval(dec.args[0], scope))
            elif parts[0] == "task" or "task" in parts[:-1] or (last == "task" and len(parts) <= 3):
                if last in ("run_if", "skip_if"):
                    continue
                func.kind = "task"
                func.operator = "@" + ".".join(parts[parts.index("task"):]) if "task" in parts else "@task"
                for k, v in kwargs.items():
                    func.options.setdefault(k, v)
                if last == "task" and isinstance(dec, ast.Call) and dec.args and isinstance(
                        self._eval(dec.args[0], scope), str):
                    func.options.setdefault("task_id", self._eval(dec.args[0], scope))
            elif last == "asset" or (last == "multi" and len(parts) >= 2 and parts[-2] == "asset"):
                asset = (last, kwargs)
        scope.vars[node.name] = func
        if asset is not None:
            self._asset(node, *asset)

    def _asset(self, node: ast.FunctionDef | ast.AsyncFunctionDef, kind: str, kwargs: dict[str, Any]) -> None:
        """``@asset``: a DAG named after the asset (``@asset.multi``: the function) with one task."""
        if self.importing:
            return
        default = node.name if kind == "multi" else kwargs.get("name", node.name)
        dag_id = kwargs.get("dag_id") or default
        dag = self._new_dag(dag_id, None, node.lineno, kwargs)
        if dag is not None:
            self._make_task(dag, node.name, f"@asset{'.multi' if kind == 'multi' else ''}", node, None,
                            group=self.roots[id(dag)])

    # -- expressions ------------------------------------------------------------------------
    def _concrete(self, v: Any) -> bool:
        if isinstance(v, str | int | float | bool | bytes | range) or v is None:
            return True
        if isinstance(v, list | tuple | set | frozenset):
            return all(self._concrete(x) for x in v)
        if isinstance(v, dict):
            return all(self._concrete(k) and self._concrete(x) for k, x in v.items())
        return False

    def _eval(self, expr: ast.expr | None, scope: _Scope) -> Any:
        if expr is None:
            return None
        self.budget.check()
        if isinstance(expr, ast.Constant):
            return expr.value
        if isinstance(expr, ast.Name):
            return scope.lookup(expr.id)
        if isinstance(expr, ast.JoinedStr):
            return self._fstring(expr, scope)
        if isinstance(expr, ast.List | ast.Tuple | ast.Set):
            out: list[Any] = []
            for elt in expr.elts:
                if isinstance(elt, ast.Starred):
                    inner = self._iterable(self._eval(elt.value, scope))
                    out += inner if inner is not None else [UNKNOWN]
                else:
                    out.append(self._eval(elt, scope))
            if isinstance(expr, ast.Tuple):
                return tuple(out)
            return out
        if isinstance(expr, ast.Dict):
            d: dict[Any, Any] = {}
            for k, v in zip(expr.keys, expr.values, strict=True):
                val = self._eval(v, scope)
                if k is None:
                    if isinstance(val, dict):
                        d.update(val)
                    continue
                key = self._eval(k, scope)
                try:
                    d[key if self._concrete(key) else id(k)] = val
                except TypeError:
                    d[id(k)] = val
            return d
        if isinstance(expr, ast.BinOp):
            left = self._eval(expr.left, scope)
            right = self._eval(expr.right, scope)
            return self._binop(expr.op, left, right)
        if isinstance(expr, ast.Call):
            return self._call(expr, scope)
        if isinstance(expr, ast.Attribute):
            return self._attr(self._eval(expr.value, scope), expr.attr, expr)
        if isinstance(expr, ast.Subscript):
            return self._subscript(self._eval(expr.value, scope), self._eval(expr.slice, scope))
        if isinstance(expr, ast.NamedExpr):
            value = self._eval(expr.value, scope)
            self._assign(expr.target, value, scope)
            return value
        if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return self._comprehension(expr, scope)
        if isinstance(expr, ast.DictComp):
            pairs = self._comprehension(expr, scope)
            if not isinstance(pairs, list):
                return UNKNOWN
            d = {}
            for k, v in pairs:
                with contextlib.suppress(TypeError):
                    d[k if self._concrete(k) else id(v)] = v
            return d
        if isinstance(expr, ast.IfExp):
            test = self._eval(expr.test, scope)
            if self._concrete(test):
                return self._eval(expr.body if test else expr.orelse, scope)
            self._eval(expr.body, scope)
            self._eval(expr.orelse, scope)
            return UNKNOWN
        if isinstance(expr, ast.Lambda):
            return _Func(node=expr, scope=scope, line=expr.lineno)
        if isinstance(expr, ast.BoolOp):
            values = [self._eval(v, scope) for v in expr.values]
            if all(self._concrete(v) for v in values):
                result = values[0]
                for v in values[1:]:
                    result = (result and v) if isinstance(expr.op, ast.And) else (result or v)
                return result
            return UNKNOWN
        if isinstance(expr, ast.Compare):
            left = self._eval(expr.left, scope)
            rights = [self._eval(c, scope) for c in expr.comparators]
            if len(rights) == 1 and self._concrete(left) and self._concrete(rights[0]):
                try:
                    return _COMPARE[type(expr.ops[0])](left, rights[0])
                except (KeyError, TypeError):
                    return UNKNOWN
            return UNKNOWN
        if isinstance(expr, ast.UnaryOp):
            v = self._eval(expr.operand, scope)
            if isinstance(expr.op, ast.Not) and self._concrete(v):
                return not v
            if isinstance(expr.op, ast.USub) and isinstance(v, int | float):
                return -v
            return UNKNOWN
        if isinstance(expr, ast.Starred):
            return self._eval(expr.value, scope)
        if isinstance(expr, ast.Slice):
            parts = [self._eval(p, scope) for p in (expr.lower, expr.upper, expr.step)]
            return slice(*parts) if all(p is None or isinstance(p, int) for p in parts) else UNKNOWN
        if isinstance(expr, ast.Await):
            return self._eval(expr.value, scope)
        return UNKNOWN

    def _fstring(self, expr: ast.JoinedStr, scope: _Scope) -> Any:
        parts: list[str] = []
        dynamic = False
        for v in expr.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
                continue
            assert isinstance(v, ast.FormattedValue)
            value = self._eval(v.value, scope)
            spec = self._fstring(v.format_spec, scope) if isinstance(v.format_spec, ast.JoinedStr) else ""
            computable = isinstance(spec, str) and not _WIDE.search(spec)
            if isinstance(value, str | int | float | bool) and computable:
                try:
                    shown = {115: str, 114: repr, 97: ascii}.get(v.conversion, lambda x: x)(value)
                    parts.append(format(shown, spec))
                except (ValueError, TypeError):
                    parts.append(WILDCARD)
                    dynamic = True
            elif isinstance(value, _Pattern):
                parts.append(value.text)
                dynamic = True
            else:
                parts.append(WILDCARD)
                dynamic = True
        text = "".join(parts)
        return _bounded(_Pattern(text) if dynamic else text)

    def _binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        return _bounded(self._binop_value(op, left, right))

    def _binop_value(self, op: ast.operator, left: Any, right: Any) -> Any:
        if isinstance(op, ast.Div) and isinstance(left, _File) and isinstance(right, str | _File):
            return _File(posixpath.join(left.path, right.path if isinstance(right, _File) else right))
        if isinstance(op, ast.RShift):
            self._depend(left, right)
            return right
        if isinstance(op, ast.LShift):
            self._depend(right, left)
            return right
        if isinstance(op, ast.Add):
            if isinstance(left, list) and isinstance(right, list):
                return left + right
            if isinstance(left, tuple) and isinstance(right, tuple):
                return left + right
            if isinstance(left, str | _Pattern) and isinstance(right, str | _Pattern):
                if isinstance(left, str) and isinstance(right, str):
                    return left + right
                return _Pattern(_text(left) + _text(right))
        if isinstance(op, ast.Mod) and isinstance(left, str):
            args = right if isinstance(right, tuple) else (right,)
            if all(isinstance(a, str | int | float) for a in args) and not _WIDE.search(left):
                try:
                    return left % args
                except (TypeError, ValueError):
                    return UNKNOWN
            return _Pattern(re.sub(r"%[-#0 +]*\d*(?:\.\d+)?[sdifr]", WILDCARD, left))
        if self._concrete(left) and self._concrete(right) and isinstance(left, int | float) and isinstance(
                right, int | float):
            try:
                if isinstance(op, ast.Add):
                    return left + right
                if isinstance(op, ast.Sub):
                    return left - right
                if isinstance(op, ast.Mult) and abs(left * right) < 10**12:
                    return left * right
                if isinstance(op, ast.FloorDiv):
                    return left // right
                if isinstance(op, ast.Mod):
                    return left % right
            except (ZeroDivisionError, OverflowError, TypeError):
                return UNKNOWN
        if (isinstance(op, ast.Mult) and isinstance(left, list) and isinstance(right, int)
                and 0 <= right * len(left) <= MAX_LOOP):
            return left * right
        return UNKNOWN

    def _data_path(self, value: str | _File) -> str | None:
        """A data file of the repository a DAG file reads at parse time, or None.

        ``_File`` paths are repository-relative already (built from ``__file__``); a plain string
        is tried against the project root (Airflow's working directory in most deployments),
        then the DAG's folder; an absolute one by its trailing parts (``/usr/local/airflow/include/
        x.json`` is ``include/x.json``). Nothing outside the repository is ever read.
        """
        if isinstance(value, _File):
            candidates = [value.path]
        elif value.startswith("/"):
            parts = [p for p in value.split("/") if p]
            candidates = ["/".join(parts[i:]) for i in range(len(parts))]
        else:
            candidates = [value, posixpath.join(posixpath.dirname(self.file.path), value)]
        for c in candidates:
            c = posixpath.normpath(c)
            if c and not c.startswith("..") and not c.startswith("/") and self.ctx.exists(c):
                return c
        return None

    def _load_data(self, source: Any, yaml_ok: bool) -> Any:
        """``json.load(f)`` / ``yaml.safe_load(f)`` of a repository file: data, never code."""
        if isinstance(source, _Handle):
            f = self.ctx.files.get(source.path)
            if f is None or len(f.content) > MAX_DATA_BYTES:
                return UNKNOWN
            text = self.ctx.text(source.path) or ""
        elif isinstance(source, str):
            text = source
        else:
            return UNKNOWN
        try:
            if yaml_ok:
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception:  # malformed data is just unknown
            return UNKNOWN
        return data if _data_size(data, MAX_ITEMS) <= MAX_ITEMS else UNKNOWN

    def _subscript(self, container: Any, key: Any) -> Any:
        if isinstance(container, _XArg):
            return _XArg(container.tasks)
        if isinstance(container, list | tuple | str):
            if isinstance(key, int):
                try:
                    return container[key]
                except IndexError:
                    return UNKNOWN
            if isinstance(key, slice):
                return container[key]
        if isinstance(container, dict) and self._concrete(key):
            try:
                return container.get(key, UNKNOWN)
            except TypeError:
                return UNKNOWN
        return UNKNOWN

    def _comprehension(self, expr: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                       scope: _Scope) -> Any:
        inner = _Scope(parent=scope)
        out: list[Any] = []
        known = True

        def gen(i: int) -> None:
            nonlocal known
            if i == len(expr.generators):
                if len(out) >= MAX_LOOP:
                    self._diag("loop_capped", f"comprehension stopped after {MAX_LOOP} items", expr.lineno)
                    return
                if isinstance(expr, ast.DictComp):
                    out.append((self._eval(expr.key, inner), self._eval(expr.value, inner)))
                else:
                    out.append(self._eval(expr.elt, inner))
                return
            comp = expr.generators[i]
            items = self._iterable(self._eval(comp.iter, inner))
            if items is None:
                known = False
                self._assign(comp.target, UNKNOWN, inner)
                gen(i + 1)
                return
            for item in items:
                if len(out) >= MAX_LOOP:
                    break
                self._step(expr.lineno)
                self._assign(comp.target, item, inner)
                conds = [self._eval(c, inner) for c in comp.ifs]
                if all(c for c in conds if self._concrete(c)):
                    gen(i + 1)

        gen(0)
        return out if known or out else UNKNOWN

    # -- attributes and calls ---------------------------------------------------------------
    def _attr(self, obj: Any, attr: str, expr: ast.Attribute) -> Any:
        if isinstance(obj, _Orphan):
            if obj.task is not None:
                return self._attr(obj.task, attr, expr)
            return _Method(obj, attr) if attr in ("set_downstream", "set_upstream") else UNKNOWN
        if isinstance(obj, _Task):
            if attr == "output":
                return _XArg([obj])
            if attr == "task_id":
                return obj.task_id
            if attr == "task_group":
                return obj.group or UNKNOWN
            if attr == "dag":
                return obj.dag
            return _Method(obj, attr)
        if isinstance(obj, _XArg):
            if attr in ("output",):
                return obj
            if attr in ("operator",):
                return obj.tasks[0] if obj.tasks else UNKNOWN
            if attr in ("task_group", "dag") and obj.tasks:
                return self._attr(obj.tasks[0], attr, expr)
            return _Method(obj, attr)
        if isinstance(obj, _Group):
            if attr == "parent_group":
                return obj.parent or UNKNOWN
            if attr == "group_id":
                return obj.group_id
            if attr == "dag":
                return obj.dag
            return _Method(obj, attr)
        if isinstance(obj, _Func | _Partial | _Label) or (isinstance(obj, _Class) and attr == "partial"):
            return _Method(obj, attr)
        if isinstance(obj, _Dag):
            if attr == "dag_id":
                return obj.dag_id
            if attr in ("tasks", "roots", "leaves"):
                tasks = list(obj.tasks.values())
                if attr == "roots":
                    return [t for t in tasks if not obj.up.get(t.task_id)]
                if attr == "leaves":
                    return [t for t in tasks if not obj.down.get(t.task_id)]
                return tasks
            if attr == "task_dict":
                return dict(obj.tasks)
            if attr == "task_ids":
                return list(obj.tasks)
            return _Method(obj, attr)
        if isinstance(obj, _File):
            p = obj.path
            if attr == "stem":
                return posixpath.splitext(posixpath.basename(p))[0]
            if attr == "name":
                return posixpath.basename(p)
            if attr == "parent":
                return _File(posixpath.dirname(p))
            if attr == "suffix":
                return posixpath.splitext(p)[1]
            return _Method(obj, attr)
        if isinstance(obj, str | list | dict):
            return _Method(obj, attr)
        if isinstance(obj, _Instance | _Class):
            cls = obj.cls if isinstance(obj, _Instance) else obj
            if isinstance(obj, _Instance) and attr in obj.vars:
                return obj.vars[attr]
            if attr in cls.methods:
                func = cls.methods[attr]
                return _Bound(func, cls if func.operator == "class" else obj)
            return cls.attrs.get(attr, UNKNOWN)
        if isinstance(obj, _Scope):   # a repository module
            return obj.vars.get(attr, _Ref(attr))
        if isinstance(obj, _Ref):
            if _last(obj.name) == "TriggerRule" and attr.isupper():
                return attr.lower()   # a str enum whose values are its lower-cased member names
            return _Ref(f"{obj.name}.{attr}")
        return UNKNOWN

    def _args(self, call: ast.Call, scope: _Scope) -> list[Any]:
        out: list[Any] = []
        for a in call.args:
            if isinstance(a, ast.Starred):
                items = self._iterable(self._eval(a.value, scope))
                out += items if items is not None else [UNKNOWN]
            else:
                out.append(self._eval(a, scope))
        return out

    def _kwargs(self, call: ast.Call, scope: _Scope) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in call.keywords:
            value = self._eval(k.value, scope)
            if k.arg is None:
                if isinstance(value, dict):
                    out.update({str(x): y for x, y in value.items()})
            else:
                out[k.arg] = value
        return out

    def _call(self, call: ast.Call, scope: _Scope) -> Any:
        fval = self._eval(call.func, scope)
        args = self._args(call, scope)
        kwargs = self._kwargs(call, scope)
        if isinstance(fval, _Method):
            return self._method(fval, args, kwargs, call)
        if isinstance(fval, _Bound):
            first = [] if fval.func.operator == "static" else [fval.first]
            return self._call_func(fval.func, [*first, *args], kwargs, call)
        if isinstance(fval, _Func):
            return self._call_func(fval, args, kwargs, call)
        if isinstance(fval, _Partial):
            return UNKNOWN
        name = _callee_name(fval, call.func)
        last = _last(name)
        if isinstance(fval, _Class):
            if fval.is_group:
                return self._custom_group(fval, args, kwargs)
            if fval.is_operator or "task_id" in kwargs:
                return self._operator(fval.name, args, kwargs, call)
            instance = _Instance(fval)
            if "__init__" in fval.methods:
                self._call_func(fval.methods["__init__"], [instance, *args], kwargs, call)
            return instance
        if name in ("task", "setup", "teardown") and len(args) == 1 and isinstance(args[0], _Func):
            # the decorators called as functions: task(fn), setup(fn)
            fn = args[0]
            return _Func(node=fn.node, scope=fn.scope, kind="task", options={**fn.options, **kwargs},
                         setup=name == "setup" or fn.setup, teardown=name == "teardown" or fn.teardown,
                         line=fn.line, foreign=fn.foreign)
        if last == "DAG":
            dag_id = args[0] if args else kwargs.get("dag_id")
            return self._new_dag(dag_id, call, call.lineno, kwargs) or UNKNOWN
        if last == "TaskGroup":
            group_id = args[0] if args else kwargs.get("group_id")
            suffix = kwargs.get("add_suffix_on_collision") is True
            return self._new_group(group_id, kwargs, suffix=suffix) or UNKNOWN
        if last == "Label":
            return _Label()
        if last == "chain":
            self._chain(args, call)
            return None
        if last == "chain_linear":
            prev: list[Any] | None = None
            for elem in args:
                cur = list(elem) if isinstance(elem, list | tuple) else [elem]
                if prev is not None:
                    self._depend(prev, cur)
                prev = cur
            return None
        if last == "cross_downstream":
            if len(args) >= 2:
                self._depend(list(_flat(args[0])), list(_flat(args[1])))
            return None
        if last in ("Path", "PurePath", "PosixPath") and args and isinstance(args[0], _File):
            return args[0]
        if last in ("Path", "PurePath", "PosixPath") and args and all(
                isinstance(a, str | _File) for a in args):
            return _File(posixpath.join(*[a.path if isinstance(a, _File) else a for a in args]))
        if name == "str" and len(args) == 1 and isinstance(args[0], _File):
            return args[0].path
        if name in ("open", "io.open", "builtins.open") and args and isinstance(args[0], str | _File):
            path = self._data_path(args[0])
            return _Handle(path) if path is not None else UNKNOWN
        if args and (name in ("json.load", "json.loads", "yaml.safe_load", "yaml.load", "yaml.full_load")
                     or (name in ("safe_load", "load") and isinstance(args[0], _Handle))):
            return self._load_data(args[0], yaml_ok=not name.startswith("json"))
        if name in ("os.path.join", "path.join") and args and all(isinstance(a, str | _File) for a in args):
            parts = [a.path if isinstance(a, _File) else a for a in args]
            return _File(posixpath.join(*parts)) if isinstance(args[0], _File) else posixpath.join(*parts)
        if name in ("os.path.basename", "path.basename", "basename") and args and isinstance(args[0], _File):
            return posixpath.basename(args[0].path)
        if name in ("os.path.dirname", "path.dirname", "dirname") and args and isinstance(args[0], _File):
            return _File(posixpath.dirname(args[0].path))
        if name in ("os.path.splitext", "path.splitext") and args and isinstance(args[0], str):
            return posixpath.splitext(args[0])
        if last == "range" and all(isinstance(a, int) for a in args) and 1 <= len(args) <= 3:
            return range(*args)
        if name in _BUILTINS and all(self._concrete(a) for a in args) and not kwargs:
            try:
                return _BUILTINS[name](*args)
            except (TypeError, ValueError, OverflowError):
                return UNKNOWN
        if name in ("zip", "enumerate") and args:
            lists = [self._iterable(a) for a in args]
            if all(x is not None for x in lists):
                if name == "zip":
                    return list(zip(*lists, strict=False))  # type: ignore[misc]
                return list(enumerate(lists[0]))  # type: ignore[arg-type]
            return UNKNOWN
        if name == "dict" and not args:
            return dict(kwargs)
        if name in ("list", "tuple") and len(args) == 1:
            items = self._iterable(args[0])
            return (items if name == "list" else tuple(items)) if items is not None else UNKNOWN
        if name.endswith(".partial"):
            cls = _last(name[: -len(".partial")])
            if cls.endswith(("Operator", "Sensor")) or "task_id" in kwargs:
                return _Partial(cls, args, kwargs, call)
            return UNKNOWN
        if last.endswith(("Operator", "Sensor")) or "task_id" in kwargs:
            return self._operator(last, args, kwargs, call)
        return UNKNOWN

    def _custom_group(self, cls: _Class, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """A TaskGroup subclass: the group is made from its ``group_id``, then ``__init__`` runs
        with ``self`` bound to it (tasks join it through ``task_group=self`` or ``with self:``)."""
        if cls.init is None:
            group_id = args[0] if args else kwargs.get("group_id")
            return self._new_group(group_id, kwargs, suffix=False) or UNKNOWN
        scope = self._bind(cls.init, [UNKNOWN, *args], kwargs)
        params = cls.init.node.args
        self_name = (params.posonlyargs + params.args)[0].arg if params.posonlyargs + params.args else "self"
        group = self._new_group(scope.vars.get("group_id", kwargs.get("group_id")), kwargs, suffix=False)
        if group is None:
            return UNKNOWN
        scope.vars[self_name] = group
        self._run(cls.init, scope)
        return group

    def _method(self, m: _Method, args: list[Any], kwargs: dict[str, Any], call: ast.Call) -> Any:
        obj, name = m.obj, m.name
        if isinstance(obj, _Orphan):
            if name == "set_downstream" and args:
                self._depend(obj, args[0])
            elif name == "set_upstream" and args:
                self._depend(args[0], obj)
            return None
        if isinstance(obj, _Task | _XArg):
            tasks = [obj] if isinstance(obj, _Task) else obj.tasks
            if name == "set_downstream":
                if args:
                    self._depend(obj, args[0])
                return None
            if name == "set_upstream":
                if args:
                    self._depend(args[0], obj)
                return None
            if name in ("as_setup", "as_teardown"):
                for t in tasks:
                    t.is_setup = t.is_setup or name == "as_setup"
                    t.is_teardown = t.is_teardown or name == "as_teardown"
                setups = kwargs.get("setups", args[0] if args else None)
                if name == "as_teardown" and setups is not None:
                    self._depend(setups, obj)
                return obj
            if name in ("map", "zip", "concat", "resolve", "filter") and isinstance(obj, _XArg):
                more = [t for a in args if isinstance(a, _XArg) for t in a.tasks]
                return _XArg(obj.tasks + more)
            return UNKNOWN
        if isinstance(obj, _Func):
            if name == "override":
                options = {**obj.options, **kwargs}
                return _Func(node=obj.node, scope=obj.scope, kind=obj.kind, options=options, setup=obj.setup,
                             teardown=obj.teardown, operator=obj.operator, line=obj.line, deco=obj.deco,
                             foreign=obj.foreign)
            if name == "partial":
                return _Partial(obj, args, kwargs, call)
            if name in ("expand", "expand_kwargs"):
                return self._call_func(obj, args, kwargs, call)
            return UNKNOWN
        if isinstance(obj, _Partial):
            if name in ("expand", "expand_kwargs", "partial"):
                if name == "partial":
                    return _Partial(obj.target, obj.args + args, {**obj.kwargs, **kwargs}, obj.call)
                merged = {**obj.kwargs, **kwargs}
                if isinstance(obj.target, _Func):
                    return self._call_func(obj.target, obj.args + args, merged, call)
                return self._operator(obj.target, obj.args + args, merged, obj.call)
            return UNKNOWN
        if isinstance(obj, _Class):
            if name == "partial" and (obj.is_operator or "task_id" in kwargs):
                return _Partial(obj.name, args, kwargs, call)
            return UNKNOWN
        if isinstance(obj, _Group):
            if name == "set_downstream" and args:
                self._depend(obj, args[0])
            elif name == "set_upstream" and args:
                self._depend(args[0], obj)
            return None
        if isinstance(obj, _Label):
            if name == "set_downstream" and args:
                self._depend(obj, args[0])
            elif name == "set_upstream" and args:
                self._depend(args[0], obj)
            return None
        if isinstance(obj, _Dag):
            if name == "get_task" and args and isinstance(args[0], str):
                return obj.tasks.get(args[0], UNKNOWN)
            if name in ("add_task", "add_tasks") and args:
                for orphan in _flat(args[0]):
                    if isinstance(orphan, _Orphan):
                        self._adopt(orphan, obj)
                return None
            return UNKNOWN
        if isinstance(obj, _File):
            if name in ("read_text", "open"):
                path = self._data_path(obj)
                if path is None:
                    return UNKNOWN
                return (self.ctx.text(path) or "") if name == "read_text" else _Handle(path)
            if name in ("joinpath", "with_suffix", "with_name") and args and all(
                    isinstance(a, str) for a in args):
                if name == "joinpath":
                    return _File(posixpath.join(obj.path, *args))
                if name == "with_suffix":
                    return _File(posixpath.splitext(obj.path)[0] + args[0])
                return _File(posixpath.join(posixpath.dirname(obj.path), args[0]))
            return UNKNOWN
        if isinstance(obj, _Handle):
            if name == "read":
                return _bounded(self.ctx.text(obj.path) or "")
            return UNKNOWN
        if isinstance(obj, str):
            return _str_method(obj, name, args, kwargs)
        if isinstance(obj, list):
            if name == "append" and len(args) == 1:
                obj.append(args[0])
            elif name == "extend" and len(args) == 1:
                items = self._iterable(args[0])
                if items is not None:
                    obj.extend(items)
            return None
        if isinstance(obj, dict):
            if name in ("items", "keys", "values"):
                return list(getattr(obj, name)())
            if name == "get" and args and self._concrete(args[0]):
                try:
                    return obj.get(args[0], args[1] if len(args) > 1 else None)
                except TypeError:
                    return UNKNOWN
            return UNKNOWN
        return UNKNOWN

    # -- functions --------------------------------------------------------------------------
    def _bind(self, func: _Func, args: list[Any], kwargs: dict[str, Any]) -> _Scope:
        scope = _Scope(parent=func.scope)
        a = func.node.args
        positional = [*a.posonlyargs, *a.args]
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        for i, p in enumerate(positional):
            if i < len(args):
                scope.vars[p.arg] = args[i]
            elif p.arg in kwargs:
                scope.vars[p.arg] = kwargs[p.arg]
            elif defaults[i] is not None:
                scope.vars[p.arg] = self._eval(defaults[i], func.scope)
            else:
                scope.vars[p.arg] = UNKNOWN
        if a.vararg is not None:
            scope.vars[a.vararg.arg] = tuple(args[len(positional):])
        for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
            scope.vars[p.arg] = kwargs.get(p.arg, self._eval(d, func.scope) if d is not None else UNKNOWN)
        if a.kwarg is not None:
            named = {p.arg for p in [*positional, *a.kwonlyargs]}
            scope.vars[a.kwarg.arg] = {k: v for k, v in kwargs.items() if k not in named}
        return scope

    def _run(self, func: _Func, scope: _Scope) -> Any:
        if self.depth >= MAX_CALL_DEPTH:
            self._diag("call_depth_capped", f"calls nested deeper than {MAX_CALL_DEPTH}", func.line)
            return UNKNOWN
        self.depth += 1
        try:
            if isinstance(func.node, ast.Lambda):
                return self._eval(func.node.body, scope)
            self._block(func.node.body, scope)
            return None
        except _Return as ret:
            return ret.value
        finally:
            self.depth -= 1

    def _call_func(self, func: _Func, args: list[Any], kwargs: dict[str, Any], call: ast.Call) -> Any:
        if func.foreign and not self.site:
            # code of another module runs for a call in this file: spans point at that call
            self.site.append(call.lineno)
            try:
                return self._call_func_here(func, args, kwargs, call)
            finally:
                self.site.pop()
        return self._call_func_here(func, args, kwargs, call)

    def _call_func_here(self, func: _Func, args: list[Any], kwargs: dict[str, Any], call: ast.Call) -> Any:
        if func.kind == "task":
            return self._task_call(func, args, kwargs, call)
        if func.kind == "task_group":
            dag = self.cur_dag
            if dag is None:
                return UNKNOWN
            options = {k: v for k, v in func.options.items()}
            group = self._new_group(options.pop("group_id", None) or func.name, options, suffix=True)
            if group is None:
                return UNKNOWN
            self.group_stack.append(group)
            try:
                ret = self._run(func, self._bind(func, args, kwargs))
            finally:
                self.group_stack.pop()
            return group if ret is None or ret is UNKNOWN else ret
        if func.kind == "dag":
            dag_id = func.options.get("dag_id") or func.name
            dag = self._new_dag(dag_id, func.deco, func.line, func.options)
            if dag is None:
                return UNKNOWN
            self.dag_stack.append(dag)
            try:
                self._run(func, self._bind(func, args, kwargs))
            finally:
                self.dag_stack.pop()
            return dag
        return self._run(func, self._bind(func, args, kwargs))

    def _task_call(self, func: _Func, args: list[Any], kwargs: dict[str, Any], call: ast.Call) -> Any:
        opts = func.options
        dag = opts.get("dag") if isinstance(opts.get("dag"), _Dag) else self.cur_dag
        if dag is None:
            return UNKNOWN
        group = opts.get("task_group") if isinstance(opts.get("task_group"), _Group) else self.cur_group(dag)
        task_id = opts.get("task_id", func.name)
        if isinstance(task_id, str):
            task_id = self._unique(dag, group, task_id)
        task = self._make_task(dag, task_id, func.operator, call, func.node, group=group)
        if task is None:
            return UNKNOWN
        task.is_setup = task.is_setup or func.setup
        task.is_teardown = task.is_teardown or func.teardown
        deps = [*_xargs(args), *_xargs(kwargs), *_xargs(opts)]
        self._depend(deps, task)
        return _XArg([task])

    @staticmethod
    def _unique(dag: _Dag, group: _Group, task_id: str) -> str:
        """Airflow's ``get_unique_task_id``: a decorated task called again gets ``__1``, ``__2``..."""
        full = group.child_id(task_id)
        if full not in dag.tasks:
            return task_id
        prefix = re.split(r"__\d+$", full)[0]
        pattern = re.compile(rf"^{re.escape(prefix)}__(\d+)$")
        suffixes = [int(m.group(1)) for t in dag.tasks if (m := pattern.match(t))]
        return f"{re.split(r'__[0-9]+$', task_id)[0]}__{max([0, *suffixes]) + 1}"

    # -- DAGs, groups, tasks ----------------------------------------------------------------
    def _id(self, value: Any) -> str | None:
        """A usable id, or a pattern with wildcards, or None when nothing of it is known."""
        if isinstance(value, str):
            return value
        if isinstance(value, _Pattern) and value.text.strip(WILDCARD):
            return value.text
        return None

    def _new_dag(self, raw_id: Any, call: ast.Call | None, line: int, kwargs: dict[str, Any]) -> _Dag | None:
        if self.importing:
            return None   # DAGs of imported modules belong to those files
        dag_id = self._id(raw_id)
        if dag_id is None:
            self._diag("dynamic_dag_id", "DAG id is not known statically; DAG skipped", line)
            return None
        if not isinstance(raw_id, str):
            self._diag("dynamic_dag_id", f"DAG id is only known as the pattern {dag_id!r}", line)
        if dag_id in self.dags:
            return self.dags[dag_id]
        if self.conditions:
            self._diag("optional_import_dag", f"DAG {dag_id!r} is defined only where the optional import of "
                       f"{', '.join(sorted(set(self.conditions)))} succeeds", line)
        did = self.ctx.nid("airflow.dag", dag_id)
        props: dict[str, Any] = {"dag_id": dag_id, "schedule": "", "tags": [], "description": ""}
        kw_nodes = {k.arg: k.value for k in call.keywords if k.arg} if call is not None else {}
        for key in ("schedule", "schedule_interval"):
            if key in kwargs:
                value = kwargs[key]
                if isinstance(value, str | int | float) or value is None:
                    props["schedule"] = str(value)
                elif key in kw_nodes:
                    props["schedule"] = ast.unparse(kw_nodes[key])
                else:
                    props["schedule"] = ""
        tags = kwargs.get("tags")
        props["tags"] = [str(t) for t in tags] if isinstance(tags, list | tuple | set) and all(
            isinstance(t, str) for t in tags) else []
        if isinstance(tags, set):
            props["tags"] = sorted(props["tags"])
        desc = kwargs.get("description")
        props["description"] = desc if isinstance(desc, str) else ""
        paths = kwargs.get("template_searchpath")
        if isinstance(paths, str | _Pattern):
            paths = [paths]
        self.result.nodes.append(Node(id=did, type="airflow.dag", scope=self.ctx.repo_id, key=dag_id,
                                      name=dag_id, path=self.file.path, span=(line, line), props=props))
        self.result.edges += [Edge(type="defined_in", src=did, dst=self.ctx.file_id(self.file.path)),
                              Edge(type="declares", src=self.module_id, dst=did)]
        # f"{AIRFLOW_HOME}/include/sql": the unknown root is a deployment path, kept as absolute
        paths = paths if isinstance(paths, list | tuple) else []
        searchpath = [p if isinstance(p, str) else "/" + p.text.rpartition(WILDCARD)[2].lstrip("/")
                      for p in paths if isinstance(p, str | _Pattern)]
        dag = _Dag(dag_id=dag_id, id=did, template_paths=searchpath)
        self.dags[dag_id] = dag
        self.roots[id(dag)] = _Group(dag=dag, group_id=None)
        return dag

    def _new_group(self, raw_id: Any, kwargs: dict[str, Any], suffix: bool) -> _Group | None:
        dag = kwargs.get("dag") if isinstance(kwargs.get("dag"), _Dag) else None
        parent = kwargs.get("parent_group") if isinstance(kwargs.get("parent_group"), _Group) else None
        dag = dag or (parent.dag if parent else self.cur_dag)
        if dag is None:
            return None
        parent = parent or self.cur_group(dag)
        label = self._id(raw_id) or WILDCARD
        if not isinstance(raw_id, str):
            self._diag("dynamic_group_id", f"task group id is only known as the pattern {label!r}", None)
        prefix = kwargs.get("prefix_group_id", True)
        prefix = prefix if isinstance(prefix, bool) else True
        full = parent.child_id(label)
        if full in dag.used_ids and suffix:
            base = re.split(r"__\d+$", label)[0]
            base_full = parent.child_id(base)
            pattern = re.compile(rf"^{re.escape(base_full)}__(\d+)$")
            used = [int(m.group(1)) for u in dag.used_ids if (m := pattern.match(u))]
            label = f"{base}__{max(used) + 1}" if used else f"{label}__1"
            full = parent.child_id(label)
        group = _Group(dag=dag, group_id=full, prefix=prefix, parent=parent)
        dag.used_ids.add(full)
        parent.children.append(group)
        return group

    def _operator(self, cls: str, args: list[Any], kwargs: dict[str, Any], call: ast.Call) -> Any:
        dag = kwargs.get("dag") if isinstance(kwargs.get("dag"), _Dag) else None
        group = kwargs.get("task_group") if isinstance(kwargs.get("task_group"), _Group) else None
        dag = dag or (group.dag if group else self.cur_dag)
        if dag is None:
            # no DAG yet: Airflow adds it to the DAG of the first task it is linked with
            return _Orphan(cls, args, kwargs, call)
        if group is None:
            group = self.cur_group(dag)
        raw = kwargs.get("task_id", UNKNOWN)
        task = self._make_task(dag, raw, cls, call, None, group=group)
        if task is None:
            return UNKNOWN
        self._depend([*_xargs(args), *_xargs({k: v for k, v in kwargs.items() if k not in ("dag",)})], task)
        return task

    def _make_task(self, dag: _Dag, raw_id: Any, operator: str, call: ast.AST, func: Any,
                   group: _Group) -> _Task | None:
        label = self._id(raw_id)
        line = getattr(call, "lineno", None)
        if label is None:
            self._diag("dynamic_task_id", "task id is not known statically; task skipped", line)
            return None
        if not isinstance(raw_id, str):
            self._diag("dynamic_task_id", f"task id is only known as the pattern {label!r}", line)
        task_id = group.child_id(label)
        if task_id in dag.tasks:
            return dag.tasks[task_id]
        self.n_tasks += 1
        if self.n_tasks > self.max_tasks:
            self._diag("too_many_tasks", f"more than {self.max_tasks} tasks; the rest of the file is skipped",
                       line)
            raise _StopFile
        key = f"{dag.dag_id}.{task_id}"
        tid = self.ctx.nid("airflow.task", key)
        conn = ""
        if isinstance(call, ast.Call):
            for k in ("conn_id", "postgres_conn_id", "snowflake_conn_id", "gcp_conn_id", "mysql_conn_id"):
                lit = _literal(_kw(call, k))
                if isinstance(lit, str):
                    conn = lit
        end = getattr(call, "end_lineno", None) or line or 0
        if self.site:
            line = end = self.site[0]
        self.result.nodes.append(Node(id=tid, type="airflow.task", scope=self.ctx.repo_id, key=key,
                                      name=task_id, path=self.file.path, span=(line or 0, end),
                                      props={"task_id": task_id, "operator": operator, "conn_id": conn}))
        self.result.edges += [Edge(type="has_task", src=dag.id, dst=tid),
                              Edge(type="defined_in", src=tid, dst=self.ctx.file_id(self.file.path))]
        task = _Task(dag=dag, task_id=task_id, node_id=tid, group=group)
        dag.tasks[task_id] = task
        dag.used_ids.add(task_id)
        group.children.append(task)
        if self.st_stack:
            self.st_stack[-1].work.append(task)
        if func is None and _is_sql_operator(operator) and isinstance(call, ast.Call):
            try:
                self._sql(tid, operator, call, dag)
            except Exception as exc:  # a SQL-core bug must not cost the DAG's structure
                self._diag("sql_internal_error", f"{type(exc).__name__}: {exc}", line)
        return task

    # -- dependencies -----------------------------------------------------------------------
    def _depend(self, up: Any, down: Any) -> None:
        """``up >> down`` with Airflow's operand rules (lists, groups, XComArgs, labels)."""
        if isinstance(down, _Label):
            self._label_add(down, up, upstream=True)
            return
        if isinstance(up, _Label):
            self._label_add(up, down, upstream=False)
            return
        ups = [u for u in _flat(up) if not isinstance(u, _Label)]
        downs = [d for d in _flat(down) if not isinstance(d, _Label)]
        for lab in _flat(up):
            if isinstance(lab, _Label):
                self._label_add(lab, downs, upstream=False)
        for lab in _flat(down):
            if isinstance(lab, _Label):
                self._label_add(lab, ups, upstream=True)
        if not ups or not downs:
            return
        if any(isinstance(n, _Orphan) for n in [*ups, *downs]):
            dags = {id(t.dag): t.dag for n in [*ups, *downs] if not isinstance(n, _Orphan)
                    for t in self._ends(n, leaves=True)}
            if len(dags) == 1:
                dag = next(iter(dags.values()))
                for n in [*ups, *downs]:
                    if isinstance(n, _Orphan):
                        self._adopt(n, dag)
        for d in downs:
            if isinstance(d, _Group):
                d.upstream += [t for u in ups for t in self._ends(u, leaves=True)]
        up_tasks = [t for u in ups for t in self._ends(u, leaves=True)]
        down_tasks = [t for d in downs for t in self._ends(d, leaves=False)]
        for u in up_tasks:
            for d in down_tasks:
                self._edge(u, d)

    def _label_add(self, label: _Label, other: Any, upstream: bool) -> None:
        """EdgeModifier.set_upstream / set_downstream: save the nodes, then link across the label.

        As in Airflow, once both sides are known and they sit in different task groups, the nodes
        already saved stand for their (non-root) groups, so a label between groups links groups.
        """
        nodes = [n for n in _flat(other) if isinstance(n, _Task | _XArg | _Group)]
        (label.ups if upstream else label.downs).extend(nodes)
        if label.ups and label.downs:
            groups = {self._group_key(n) for n in [*label.ups, *label.downs]}
            if len(groups) != 1:
                label.ups = [self._as_group(n) for n in label.ups]
                label.downs = [self._as_group(n) for n in label.downs]
        if upstream:
            for d in label.downs:
                self._depend(other, d)
        else:
            for u in label.ups:
                self._depend(u, other)

    @staticmethod
    def _group_key(node: Any) -> str | None:
        if isinstance(node, _XArg):
            node = node.tasks[0] if node.tasks else None
        if isinstance(node, _Task):
            return node.group.group_id if node.group is not None else None
        return node.group_id if isinstance(node, _Group) else None

    @staticmethod
    def _as_group(node: Any) -> Any:
        task = node.tasks[0] if isinstance(node, _XArg) and node.tasks else node
        if isinstance(task, _Task) and task.group is not None and task.group.group_id is not None:
            return task.group
        return node

    def _adopt(self, orphan: _Orphan, dag: _Dag) -> _Task | None:
        if orphan.task is None:
            kwargs = {**orphan.kwargs, "dag": dag}
            task = self._operator(orphan.cls, orphan.args, kwargs, orphan.call)
            orphan.task = task if isinstance(task, _Task) else None
        return orphan.task

    def _ends(self, node: Any, leaves: bool) -> list[_Task]:
        if isinstance(node, _Orphan):
            return [node.task] if node.task is not None else []
        if isinstance(node, _Task):
            return [node]
        if isinstance(node, _XArg):
            return list(node.tasks)
        if isinstance(node, _Group):
            if not leaves:
                return self._roots(node)
            # TaskGroup.find_leaves: an empty group stands for what was set upstream of it
            group: _Group | None = node
            while group is not None:
                found = self._leaves(group) or group.upstream
                if found:
                    return found
                group = group.parent
            return []
        return []

    @staticmethod
    def _roots(group: _Group) -> list[_Task]:
        tasks = list(group.tasks())
        ids = {t.task_id for t in tasks}
        return [t for t in tasks if not ids.intersection(t.dag.up.get(t.task_id, ()))]

    @staticmethod
    def _leaves(group: _Group) -> list[_Task]:
        """TaskGroup.get_leaves: tasks with nothing downstream in the group, looking past teardowns."""
        tasks = list(group.tasks())
        by_id = {t.task_id: t for t in tasks}
        if not tasks:
            return []
        dag = tasks[0].dag

        def non_teardown_downstream(task: _Task, exclude: str) -> bool:
            return any(d != exclude and d in by_id and not by_id[d].is_teardown
                       for d in dag.down.get(task.task_id, ()))

        def first_non_teardown(task: _Task, seen: set[str]) -> Iterator[_Task]:
            for u in dag.up.get(task.task_id, ()):
                if u not in by_id or u in seen:
                    continue
                up_task = by_id[u]
                if up_task.is_teardown:
                    yield from first_non_teardown(up_task, seen | {u})
                elif task.is_teardown and up_task.is_setup:
                    continue
                elif not non_teardown_downstream(up_task, task.task_id):
                    yield up_task

        out: list[_Task] = []
        for t in tasks:
            if not by_id.keys() & set(dag.down.get(t.task_id, ())):
                if not t.is_teardown:
                    out.append(t)
                else:
                    out += first_non_teardown(t, {t.task_id})
        return out

    def _edge(self, up: _Task, down: _Task) -> None:
        if up is down or up.dag is not down.dag:
            return
        dag = up.dag
        key = (up.task_id, down.task_id)
        if key in dag.edges:
            return
        self.n_edges += 1
        if self.n_edges > self.max_edges:
            self._diag("too_many_edges",
                       f"more than {self.max_edges} dependencies; the rest of the file is skipped", None)
            raise _StopFile
        dag.edges[key] = None
        dag.down.setdefault(up.task_id, []).append(down.task_id)
        dag.up.setdefault(down.task_id, []).append(up.task_id)

    def _chain(self, args: list[Any], call: ast.Call) -> None:
        """``chain``: a task next to anything links every-to-every; two lists pair up element-wise."""
        for up, down in itertools.pairwise(args):
            up_single = not isinstance(up, list | tuple)
            down_single = not isinstance(down, list | tuple)
            if up_single or down_single:
                self._depend(up, down)
            elif len(up) != len(down):
                self._diag("chain_length_mismatch",
                           f"chain() of lists of different lengths ({len(up)} and {len(down)}): Airflow "
                           "raises here", call.lineno)
            else:
                for u, d in zip(up, down, strict=True):
                    self._depend(u, d)

    # -- setup / teardown context managers --------------------------------------------------
    def _st_context(self, value: Any) -> _StContext | None:
        tasks = [t for v in _flat(value) for t in self._ends(v, leaves=True) if isinstance(v, _Task | _XArg)]
        if not tasks or not (tasks[0].is_setup or tasks[0].is_teardown):
            return None
        dag = tasks[0].dag
        teardown_mode = tasks[0].is_teardown
        want = "is_setup" if teardown_mode else "is_teardown"
        # Airflow looks for setups upstream of the teardown (teardowns downstream of the setup),
        # widening the search one neighbour ring at a time until it finds some.
        start = dag.up if teardown_mode else dag.down
        ring = [dag.tasks[x] for x in start.get(tasks[0].task_id, ()) if x in dag.tasks]
        seen = {tasks[0].task_id}
        partners: list[_Task] = []
        while ring:
            partners = [t for t in ring if getattr(t, want)]
            if partners:
                break
            seen |= {t.task_id for t in ring}
            nxt = {x for t in ring for x in (*dag.up.get(t.task_id, ()), *dag.down.get(t.task_id, ()))}
            ring = [dag.tasks[x] for x in sorted(nxt - seen) if x in dag.tasks]
        return _StContext(teardown_mode=teardown_mode, tasks=tasks, partners=partners)

    def _st_exit(self, ctx: _StContext) -> None:
        dag = ctx.tasks[0].dag
        work = [t for t in ctx.work if not t.is_setup and not t.is_teardown]
        if not work:
            return
        roots = [t for t in work if not dag.up.get(t.task_id)] or [work[0]]
        leaves = [t for t in work if not dag.down.get(t.task_id)] or [work[-1]]
        if ctx.teardown_mode:
            self._depend(leaves, ctx.tasks)
            self._depend(ctx.partners, roots)
        else:
            self._depend(ctx.tasks, roots)
            self._depend(leaves, ctx.partners)

    # -- SQL --------------------------------------------------------------------------------
    def _sql(self, tid: str, operator: str, call: ast.Call, dag: _Dag) -> None:
        value = _kw(call, "sql")
        sql = _literal(value)
        statements = sql if isinstance(sql, list) else [sql]
        texts: list[tuple[str, str]] = []
        for s in statements:
            if not isinstance(s, str) or not s.strip():
                continue
            if s.strip().endswith(".sql"):
                path = self._sql_file(s.strip(), dag)
                if path is None:
                    self.result.diagnostics.append(self.a.diag(
                        self.file.path, "sql_file_not_found", f"{s.strip()} is not in the repository",
                        call.lineno, severity="warning"))
                    continue
                texts.append((path, self.ctx.text(path) or ""))
            else:
                texts.append((self.file.path, s))
        dialect = OPERATOR_DIALECTS.get(operator) or self.ctx.config.sql_dialect
        offset = 0
        for path, text in texts:
            try:
                infos = analyse_sql(render_templated_sql(text), dialect, check=self.budget.check)
            except SqlglotError as exc:
                self.result.diagnostics.append(self.a.diag(self.file.path, "sql_tokenize_error",
                                                           str(exc).splitlines()[0], call.lineno,
                                                           severity="warning"))
                continue
            for info in infos:
                info.index += offset
            offset += len(infos)
            ids = statement_graph(infos, path, self.ctx, self.a.name, dialect, self.result, owner=tid)
            self.result.edges += [Edge(type="runs", src=tid, dst=sid) for sid in ids]

    def _sql_file(self, rel: str, dag: _Dag) -> str | None:
        """Resolve a templated .sql path the way Airflow would: DAG folder, then search paths.

        A relative search path is taken from the DAG's folder, then from the project root; an
        absolute one (``/usr/local/airflow/include/sql`` in Astro images) by its trailing parts,
        the way ``_data_path`` maps deployment paths onto the repository.
        """
        folder = posixpath.dirname(self.file.path)
        candidates = [posixpath.join(folder, rel)]
        for p in dag.template_paths:
            if posixpath.isabs(p):
                parts = [x for x in p.split("/") if x]
                candidates += [posixpath.join(*parts[i:], rel) for i in range(len(parts))]
            else:
                candidates += [posixpath.join(folder, p, rel), posixpath.join(p, rel)]
        for c in candidates:
            c = posixpath.normpath(c)
            if not c.startswith(("..", "/")) and self.ctx.exists(c):
                return c
        return None


def _resolve_import(importer: str, module: str | None, level: int, ctx: RepoContext) -> str | None:
    """The repository file ``from <module> import ...`` loads, or None (a library, or not here).

    Relative imports climb from the importer's folder; absolute ones are looked up from each
    folder above the importer, as Airflow puts the DAG folder and the project root on
    ``sys.path``. ``airflow`` itself is always the installed library.
    """
    parts = module.split(".") if module else []
    if level == 0 and (not parts or parts[0] == "airflow"):
        return None
    folder = posixpath.dirname(importer)
    if level > 0:
        for _ in range(level - 1):
            if not folder:
                return None
            folder = posixpath.dirname(folder)
        bases = [folder]
    else:
        bases = []
        while True:
            bases.append(folder)
            if not folder:
                break
            folder = posixpath.dirname(folder)
    rel = "/".join(parts)
    for base in bases:
        stem = posixpath.join(base, rel) if rel else base
        for candidate in (f"{stem}.py", posixpath.join(stem, "__init__.py")):
            candidate = posixpath.normpath(candidate)
            if not candidate.startswith("..") and ctx.exists(candidate):
                return candidate
    return None


def _imported_modules(file: SourceFile, ctx: RepoContext) -> set[str]:
    """Repository modules a DAG file may load (see ``_DagFile._import``), transitively (bounded).

    Modules that never mention Airflow are listed but not followed, as the interpreter reads
    only constants from them."""
    seen: set[str] = set()
    todo = [(file.path, file.content.decode("utf-8", errors="replace"))]
    while todo and len(seen) < MAX_MODULES:
        path, text = todo.pop()
        if "airflow" not in text:
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module] + [f"{node.module or ''}.{a.name}".lstrip(".") for a in node.names]
                level = node.level
            elif isinstance(node, ast.Import):
                names, level = [a.name for a in node.names], 0
            else:
                continue
            for name in names:
                found = _resolve_import(path, name, level, ctx)
                if found and found not in seen and found != file.path:
                    seen.add(found)
                    todo.append((found, ctx.text(found) or ""))
    return seen


def _data_size(value: Any, limit: int) -> int:
    """Nodes in loaded data, counted up to ``limit`` (YAML aliases can make a small file huge)."""
    count = 0
    stack = [value]
    while stack and count <= limit:
        v = stack.pop()
        count += 1
        if isinstance(v, dict):
            stack += list(v.values())[: limit + 1]
            count += len(v)
        elif isinstance(v, list | tuple):
            stack += list(v)[: limit + 1]
    return count


DATA_SUFFIXES = (".json", ".yaml", ".yml")


def _data_files(file: SourceFile, ctx: RepoContext) -> set[str]:
    """Repository JSON/YAML files a DAG file may read: those whose name its strings mention."""
    try:
        tree = ast.parse(file.content)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return set()
    names = {posixpath.basename(n.value) for n in ast.walk(tree)
             if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.endswith(DATA_SUFFIXES)}
    return {p for p in ctx.paths() if posixpath.basename(p) in names} if names else set()


def _text(v: str | _Pattern) -> str:
    return v if isinstance(v, str) else v.text


def _flat(value: Any) -> Iterator[Any]:
    """Operands of a dependency: a list (or tuple) stands for its elements, nested lists too."""
    if isinstance(value, list | tuple):
        for v in value:
            yield from _flat(v)
    elif value is not None:
        yield value


def _xargs(value: Any, depth: int = 0) -> Iterator[_XArg]:
    """XComArgs anywhere in an argument (lists, dicts): each makes its task an upstream."""
    if depth > 8:
        return
    if isinstance(value, _XArg):
        yield value
    elif isinstance(value, list | tuple | set):
        for v in value:
            yield from _xargs(v, depth + 1)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _xargs(v, depth + 1)


_WIDE = re.compile(r"\d{4,}")   # a format width or precision of 1000+: not computed


def _bounded(value: Any) -> Any:
    """Values too big to be ids or task lists are unknown (a doubling loop must not eat memory)."""
    if isinstance(value, str) and len(value) > MAX_STR:
        return UNKNOWN
    if isinstance(value, _Pattern) and len(value.text) > MAX_STR:
        return UNKNOWN
    if isinstance(value, list | tuple) and len(value) > MAX_ITEMS:
        return UNKNOWN
    return value


def _str_method(s: str, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return _bounded(_str_method_value(s, name, args, kwargs))


def _str_method_value(s: str, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if name == "format":
        if all(isinstance(a, str | int | float) for a in [*args, *kwargs.values()]) and not _WIDE.search(s):
            try:
                return s.format(*args, **kwargs)
            except (IndexError, KeyError, ValueError):
                return UNKNOWN
        return _Pattern(re.sub(r"\{[^{}]*\}", WILDCARD, s))
    simple = {"lower", "upper", "strip", "lstrip", "rstrip", "title", "capitalize", "replace", "removesuffix",
              "removeprefix", "split", "rsplit", "join", "startswith", "endswith", "partition", "rpartition"}
    if name in simple and all(isinstance(a, str | int | list) for a in args):
        if name == "join" and not (args and all(isinstance(x, str) for x in args[0])):
            return UNKNOWN
        try:
            return getattr(s, name)(*args)
        except (TypeError, ValueError):
            return UNKNOWN
    return UNKNOWN


_BUILTINS: dict[str, Any] = {"str": str, "int": int, "len": len, "sorted": sorted, "reversed": lambda x: list(
    reversed(x)), "min": min, "max": max, "abs": abs}

_COMPARE: dict[type, Any] = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
                             ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b,
                             ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
                             ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
                             ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b}


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None
