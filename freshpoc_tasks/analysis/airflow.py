"""Airflow DAG analyzer: DAGs, tasks, dependencies and the SQL tasks run, from ``ast`` alone.

DAG files are never imported (importing runs top-level code and needs every provider installed).
We recognise the common shapes: ``with DAG(...)``, ``dag = DAG(...)``, ``@dag`` functions,
operators and sensors constructed with a literal ``task_id``, ``@task`` functions called in a
DAG body, ``>>``/``<<``, ``chain``, ``set_upstream``/``set_downstream`` and TaskFlow data
passing. SQL given to SQL operators (inline or a ``.sql`` file in the repository) goes through
the shared SQL core, so tasks link to the tables they read and write.
"""

from __future__ import annotations

import ast
import itertools
import posixpath
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


def _is_sql_operator(cls: str) -> bool:
    return cls in OPERATOR_DIALECTS or "SQL" in cls or "Sql" in cls or cls.endswith("CheckOperator")


def _literal(node: ast.AST | None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


@dataclass
class _Dag:
    dag_id: str
    id: str
    tasks: dict[str, str] = field(default_factory=dict)  # variable -> task node id


class AirflowAnalyzer(Analyzer):
    name = "airflow"
    version = "1.0.0"

    def accepts(self, file: SourceFile, ctx: RepoContext) -> bool:
        return file.suffix == ".py" and b"airflow" in file.content

    def context_fingerprint(self, file: SourceFile, ctx: RepoContext) -> str:
        # SQL files the DAG may name live next to it; their shas change the result.
        folder = posixpath.dirname(file.path)
        shas = [f"{p}={ctx.files[p].blob_sha}" for p in sorted(ctx.paths())
                if p.endswith(".sql") and p.startswith(folder)]
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
        self.task_funcs: dict[str, str] = {}  # @task function name -> task_id
        self.dag_vars: dict[str, _Dag] = {}
        self.dags: dict[str, _Dag] = {}
        self.template_paths: list[str] = []
        self.module_locals: dict[str, list[str]] = {}

    # -- discovery ------------------------------------------------------------------------
    def run(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for dec in node.decorator_list:
                    name = dotted(dec.func if isinstance(dec, ast.Call) else dec) or ""
                    if name in ("task", "airflow.decorators.task", "sdk.task") or name.startswith("task."):
                        task_id = _literal(_kw(dec, "task_id")) if isinstance(dec, ast.Call) else None
                        self.task_funcs[node.name] = str(task_id or node.name)
        for stmt in self.tree.body:
            self._top(stmt)

    def _top(self, stmt: ast.stmt) -> None:
        self.budget.check()
        if isinstance(stmt, ast.With):
            for item in stmt.items:
                dag = self._dag_call(item.context_expr)
                if dag is not None:
                    if isinstance(item.optional_vars, ast.Name):
                        self.dag_vars[item.optional_vars.id] = dag
                    self._body(stmt.body, dag, {})
                    return
        elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
              and isinstance(stmt.targets[0], ast.Name)):
            dag = self._dag_call(stmt.value)
            if dag is not None:
                self.dag_vars[stmt.targets[0].id] = dag
                return
        elif isinstance(stmt, ast.FunctionDef):
            for dec in stmt.decorator_list:
                name = dotted(dec.func if isinstance(dec, ast.Call) else dec) or ""
                if name.rpartition(".")[2] == "dag":
                    dag_id = _literal(_kw(dec, "dag_id")) if isinstance(dec, ast.Call) else None
                    dag = self._new_dag(str(dag_id or stmt.name), dec if isinstance(dec, ast.Call) else None,
                                        stmt.lineno)
                    self._body(stmt.body, dag, {})
                    return
        # module-level operators bound with dag=dag, and dependencies between them
        self._body([stmt], None, self.module_locals)

    def _dag_call(self, expr: ast.expr) -> _Dag | None:
        if not isinstance(expr, ast.Call):
            return None
        name = dotted(expr.func) or ""
        if name.rpartition(".")[2] != "DAG":
            return None
        dag_id = _literal(expr.args[0]) if expr.args else _literal(_kw(expr, "dag_id"))
        if not isinstance(dag_id, str):
            self.result.diagnostics.append(self.a.diag(self.file.path, "dynamic_dag_id",
                                                       "DAG id is not a literal; DAG skipped",
                                                       expr.lineno, severity="warning"))
            return None
        return self._new_dag(dag_id, expr, expr.lineno)

    def _new_dag(self, dag_id: str, call: ast.Call | None, line: int) -> _Dag:
        did = self.ctx.nid("airflow.dag", dag_id)
        props: dict[str, Any] = {"dag_id": dag_id, "schedule": "", "tags": [], "description": ""}
        if call is not None:
            for key in ("schedule", "schedule_interval"):
                value = _kw(call, key)
                if value is not None:
                    lit = _literal(value)
                    props["schedule"] = str(lit) if lit is not None else ast.unparse(value)
            tags = _literal(_kw(call, "tags"))
            props["tags"] = [str(t) for t in tags] if isinstance(tags, list | tuple) else []
            props["description"] = str(_literal(_kw(call, "description")) or "")
            paths = _literal(_kw(call, "template_searchpath"))
            if isinstance(paths, str):
                paths = [paths]
            self.template_paths = [str(p) for p in paths] if isinstance(paths, list) else []
        self.result.nodes.append(Node(id=did, type="airflow.dag", scope=self.ctx.repo_id, key=dag_id,
                                      name=dag_id, path=self.file.path, span=(line, line), props=props))
        self.result.edges += [Edge(type="defined_in", src=did, dst=self.ctx.file_id(self.file.path)),
                              Edge(type="declares", src=self.module_id, dst=did)]
        dag = _Dag(dag_id=dag_id, id=did)
        self.dags[dag_id] = dag
        return dag

    # -- DAG bodies -----------------------------------------------------------------------
    def _body(self, body: list[ast.stmt], dag: _Dag | None, local: dict[str, list[str]]) -> None:
        for stmt in body:
            self.budget.check()
            if isinstance(stmt, ast.Assign | ast.AnnAssign):
                value = stmt.value
                if value is None:
                    continue
                tasks = self._tasks_of(value, dag, local)
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        local[t.id] = tasks
            elif isinstance(stmt, ast.Expr):
                self._tasks_of(stmt.value, dag, local)
            elif isinstance(stmt, ast.With | ast.For | ast.If):
                inner_dag = dag
                if isinstance(stmt, ast.With):
                    for item in stmt.items:
                        found = self._dag_call(item.context_expr)
                        inner_dag = found or inner_dag
                self._body(stmt.body, inner_dag, local)
                self._body(getattr(stmt, "orelse", []) or [], inner_dag, local)

    def _tasks_of(self, expr: ast.expr, dag: _Dag | None, local: dict[str, list[str]]) -> list[str]:
        """Task ids an expression evaluates to, creating tasks and dependency edges on the way."""
        if isinstance(expr, ast.Name):
            return list(local.get(expr.id, []))
        if isinstance(expr, ast.List | ast.Tuple):
            out: list[str] = []
            for elt in expr.elts:
                out += self._tasks_of(elt, dag, local)
            return out
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.RShift | ast.LShift):
            left = self._tasks_of(expr.left, dag, local)
            right = self._tasks_of(expr.right, dag, local)
            up, down = (left, right) if isinstance(expr.op, ast.RShift) else (right, left)
            self._link(up, down)
            return right
        if isinstance(expr, ast.NamedExpr) and isinstance(expr.target, ast.Name):
            tasks = self._tasks_of(expr.value, dag, local)
            local[expr.target.id] = tasks
            return tasks
        if not isinstance(expr, ast.Call):
            return []
        name = dotted(expr.func) or ""
        last = name.rpartition(".")[2]
        if last == "chain":
            groups = [self._tasks_of(a, dag, local) for a in expr.args]
            for up, down in itertools.pairwise(groups):
                self._link(up, down)
            return groups[-1] if groups else []
        if last in ("set_downstream", "set_upstream") and isinstance(expr.func, ast.Attribute):
            me = self._tasks_of(expr.func.value, dag, local)
            other = self._tasks_of(expr.args[0], dag, local) if expr.args else []
            self._link(me, other) if last == "set_downstream" else self._link(other, me)
            return me
        # TaskFlow: calling a @task function creates the task; task arguments are upstream of it.
        func_name = name.partition(".")[0] if name.endswith((".override", ".expand", ".partial")) else name
        if isinstance(expr.func, ast.Attribute) and isinstance(expr.func.value, ast.Call):
            inner = dotted(expr.func.value.func) or ""
            if inner in self.task_funcs and expr.func.attr in ("expand", "partial"):
                func_name = inner
        upstream = []
        for arg in [*expr.args, *(k.value for k in expr.keywords)]:
            upstream += self._tasks_of(arg, dag, local)
        if func_name in self.task_funcs:
            dag_for = dag or self._dag_kw(expr)
            if dag_for is None:
                return []
            tid = self._task(dag_for, self.task_funcs[func_name], "@task", expr, func_name)
            self._link(upstream, [tid])
            return [tid]
        if last.endswith(("Operator", "Sensor")) or _kw(expr, "task_id") is not None:
            task_id = _literal(_kw(expr, "task_id"))
            dag_for = self._dag_kw(expr) or dag
            if not isinstance(task_id, str) or dag_for is None:
                return []
            return [self._task(dag_for, task_id, last, expr, None)]
        return []

    def _dag_kw(self, call: ast.Call) -> _Dag | None:
        value = _kw(call, "dag")
        if isinstance(value, ast.Name):
            return self.dag_vars.get(value.id)
        return None

    def _link(self, up: list[str], down: list[str]) -> None:
        for u in up:
            for d in down:
                if u != d:
                    self.result.edges.append(Edge(type="upstream_of", src=u, dst=d))

    def _task(self, dag: _Dag, task_id: str, operator: str, call: ast.Call, func: str | None) -> str:
        key = f"{dag.dag_id}.{task_id}"
        tid = self.ctx.nid("airflow.task", key)
        conn = ""
        for k in ("conn_id", "postgres_conn_id", "snowflake_conn_id", "gcp_conn_id", "mysql_conn_id"):
            lit = _literal(_kw(call, k))
            if isinstance(lit, str):
                conn = lit
        self.result.nodes.append(Node(id=tid, type="airflow.task", scope=self.ctx.repo_id, key=key,
                                      name=task_id, path=self.file.path,
                                      span=(call.lineno, call.end_lineno or call.lineno),
                                      props={"task_id": task_id, "operator": operator, "conn_id": conn}))
        self.result.edges += [Edge(type="has_task", src=dag.id, dst=tid),
                              Edge(type="defined_in", src=tid, dst=self.ctx.file_id(self.file.path))]
        if func is None and _is_sql_operator(operator):
            self._sql(tid, operator, call)
        return tid

    def _sql(self, tid: str, operator: str, call: ast.Call) -> None:
        value = _kw(call, "sql")
        sql = _literal(value)
        statements = sql if isinstance(sql, list) else [sql]
        texts: list[tuple[str, str]] = []
        for s in statements:
            if not isinstance(s, str) or not s.strip():
                continue
            if s.strip().endswith(".sql"):
                path = self._sql_file(s.strip())
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

    def _sql_file(self, rel: str) -> str | None:
        """Resolve a templated .sql path the way Airflow would: DAG folder, then search paths."""
        folder = posixpath.dirname(self.file.path)
        candidates = [posixpath.normpath(posixpath.join(folder, rel))]
        candidates += [posixpath.normpath(posixpath.join(folder, p, rel)) for p in self.template_paths
                       if not posixpath.isabs(p)]
        for c in candidates:
            if not c.startswith("..") and self.ctx.exists(c):
                return c
        return None


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None
