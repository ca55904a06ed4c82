"""Pulumi analyzer: projects, stacks and the resources a Python program declares.

The program is read with ``ast`` and never run, so only resources constructed with a literal
logical name are found precisely; a computed name is kept as its expression text. Dependencies
come from variable references: a resource whose arguments mention a variable bound (directly or
through ``Output.all(...).apply``) to another resource depends on it.
"""

from __future__ import annotations

import ast
import posixpath
from typing import Any

import yaml

from freshpoc_tasks.analysis import safe_yaml
from freshpoc_tasks.analysis.base import AnalysisError, Analyzer
from freshpoc_tasks.analysis.model import Budget, FileResult, RepoContext, SourceFile
from freshpoc_tasks.analysis.python import dotted, module_name
from freshpoc_tasks.contracts.graph import Edge, Node


def pulumi_root(path: str, ctx: RepoContext) -> str | None:
    parts = path.split("/")[:-1]
    for i in range(len(parts), -1, -1):
        base = "/".join(parts[:i])
        for name in ("Pulumi.yaml", "Pulumi.yml"):
            if ctx.exists(f"{base}/{name}" if base else name):
                return base
    return None


def _project(root: str, ctx: RepoContext) -> dict[str, Any]:
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        text = ctx.text(posixpath.join(root, name) if root else name)
        if text is not None:
            doc = safe_yaml.safe_load_or_none(text)
            return doc if isinstance(doc, dict) else {}
    return {}


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def type_token(package: str, module_path: list[str], cls: str) -> str:
    """Pulumi's ``pkg:module/resource:Resource`` token for a provider SDK class."""
    pkg = package.removeprefix("pulumi_").replace("_", "-")
    module = "/".join(module_path) if module_path else "index"
    return f"{pkg}:{module}/{_camel(cls)}:{cls}"


class PulumiAnalyzer(Analyzer):
    name = "pulumi"
    version = "1.1.0"

    def accepts(self, file: SourceFile, ctx: RepoContext) -> bool:
        if file.name.startswith("Pulumi.") and file.suffix in (".yaml", ".yml"):
            return True
        return file.suffix == ".py" and pulumi_root(file.path, ctx) is not None

    def context_fingerprint(self, file: SourceFile, ctx: RepoContext) -> str:
        root = pulumi_root(file.path, ctx) or ""
        sha = next((ctx.files[p].blob_sha for p in (posixpath.join(root, n) if root else n
                                                     for n in ("Pulumi.yaml", "Pulumi.yml"))
                    if p in ctx.files), "-")
        return f"{ctx.config.fingerprint()}|{root}|{sha}|{module_name(file.path, ctx)[0]}"

    def _analyze(self, file: SourceFile, text: str, ctx: RepoContext, budget: Budget) -> FileResult:
        result = FileResult(path=file.path, analyzer=self.name)
        root = pulumi_root(file.path, ctx)
        if root is None:
            return result
        doc = _project(root, ctx)
        project = str(doc.get("name") or posixpath.basename(root) or "project")
        pid = ctx.nid("pulumi.project", project)
        if file.suffix in (".yaml", ".yml"):
            try:
                own = safe_yaml.safe_load(text)
            except (yaml.YAMLError, RecursionError, ValueError) as exc:
                raise AnalysisError(safe_yaml.refusal_code(exc), str(exc).splitlines()[0]) from None
            own = own if isinstance(own, dict) else {}
            if file.name in ("Pulumi.yaml", "Pulumi.yml"):
                runtime = own.get("runtime")
                runtime = runtime.get("name") if isinstance(runtime, dict) else runtime
                result.nodes.append(Node(id=pid, type="pulumi.project", scope=ctx.repo_id, key=project,
                                         name=project, path=file.path,
                                         props={"runtime": str(runtime or ""),
                                                "description": str(own.get("description") or "")}))
                result.edges.append(Edge(type="defined_in", src=pid, dst=ctx.file_id(file.path)))
            else:
                stack = file.name.split(".")[1]
                key = f"{project}.{stack}"
                sid = ctx.nid("pulumi.stack", key)
                config = own.get("config") if isinstance(own.get("config"), dict) else {}
                result.nodes.append(Node(id=sid, type="pulumi.stack", scope=ctx.repo_id, key=key, name=stack,
                                         path=file.path, props={"config_keys": sorted(map(str, config))}))
                result.edges += [Edge(type="defined_in", src=sid, dst=ctx.file_id(file.path)),
                                 Edge(type="belongs_to", src=sid, dst=pid)]
            return result
        try:
            tree = ast.parse(text, filename=file.path)
        except SyntaxError as exc:
            raise AnalysisError("syntax_error", exc.msg, exc.lineno) from None
        except ValueError as exc:
            raise AnalysisError("syntax_error", str(exc)) from None
        _Program(tree, file, ctx, project, pid, result, budget).run()
        return result


class _Program:
    def __init__(self, tree: ast.Module, file: SourceFile, ctx: RepoContext, project: str, pid: str,
                 result: FileResult, budget: Budget) -> None:
        self.tree = tree
        self.file = file
        self.ctx = ctx
        self.project = project
        self.pid = pid
        self.result = result
        self.budget = budget
        self.imports: dict[str, str] = {}  # local alias -> absolute module or module.attr
        self.components: dict[str, str] = {}  # local class name -> type token
        self.vars: dict[str, set[str]] = {}  # variable -> resource ids it refers to
        self.module_id = ctx.nid("py.module", module_name(file.path, ctx)[0])

    def run(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.imports[a.asname or a.name.partition(".")[0]] = a.name if a.asname else \
                        a.name.partition(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    self.imports[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.ClassDef):
                token = self._component_token(node)
                if token:
                    self.components[node.name] = token
        self._block(self.tree.body)

    def _component_token(self, node: ast.ClassDef) -> str | None:
        if not any((dotted(b) or "").endswith("ComponentResource") for b in node.bases):
            return None
        for sub in ast.walk(node):
            if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr == "__init__" and sub.args
                    and isinstance(sub.args[0], ast.Constant) and isinstance(sub.args[0].value, str)):
                return sub.args[0].value
        return None

    def _block(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.budget.check()
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if isinstance(stmt, ast.If | ast.For | ast.While | ast.With | ast.Try):
                for part in ("body", "orelse", "finalbody"):
                    self._block(getattr(stmt, part, []) or [])
                for handler in getattr(stmt, "handlers", []):
                    self._block(handler.body)
                continue
            value = getattr(stmt, "value", None)
            targets: list[str] = []
            if isinstance(stmt, ast.Assign):
                targets = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                targets = [stmt.target.id]
            if value is None:
                continue
            before = len(self.result.nodes)
            refs = self._expr(value)
            for t in targets:
                self.vars[t] = refs
            if targets and isinstance(value, ast.Call) and len(self.result.nodes) > before:
                # the outermost call is declared last; name its variable for readers of the graph
                last = self.result.nodes[-1]
                self.result.nodes[-1] = last.model_copy(
                    update={"props": {**last.props, "variable": targets[0]}})

    def _expr(self, expr: ast.AST) -> set[str]:
        """Resource ids an expression refers to; declares every resource constructed in it."""
        if isinstance(expr, ast.Call):
            token = self._token(expr)
            deps: set[str] = set()
            for arg in [*expr.args, *(k.value for k in expr.keywords)]:
                deps |= self._expr(arg)
            if isinstance(expr.func, ast.Attribute):
                deps |= self._expr(expr.func.value)
            if token is None:
                return deps
            return {self._declare(expr, token, deps)}
        if isinstance(expr, ast.Name):
            return set(self.vars.get(expr.id, set()))
        out: set[str] = set()
        for child in ast.iter_child_nodes(expr):
            out |= self._expr(child)
        return out

    def _token(self, call: ast.Call) -> str | None:
        name = dotted(call.func)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.components and not rest:
            return self.components[head]
        target = self.imports.get(head)
        if target is None:
            return None
        full = f"{target}.{rest}" if rest else target
        parts = full.split(".")
        if not parts[0].startswith("pulumi_") or len(parts) < 2 or not parts[-1][:1].isupper():
            return None
        if parts[-1].endswith(("Args", "Options")):
            return None
        return type_token(parts[0], parts[1:-1], parts[-1])

    def _declare(self, call: ast.Call, token: str, deps: set[str]) -> str:
        logical: str | None = None
        if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
            logical = call.args[0].value
        for kw in call.keywords:
            if kw.arg == "resource_name" and isinstance(kw.value, ast.Constant):
                logical = str(kw.value.value)
        if logical is None:
            logical = ast.unparse(call.args[0]) if call.args else f"line{call.lineno}"
        key = f"{self.project}::{token}::{logical}"
        rid = self.ctx.nid("pulumi.resource", key)
        self.result.nodes.append(Node(
            id=rid, type="pulumi.resource", scope=self.ctx.repo_id, key=key, name=logical,
            path=self.file.path, span=(call.lineno, call.end_lineno or call.lineno),
            props={"type_token": token, "logical_name": logical, "variable": "",
                   "constructor": dotted(call.func) or ""}))
        self.result.edges += [Edge(type="defined_in", src=rid, dst=self.ctx.file_id(self.file.path)),
                              Edge(type="belongs_to", src=rid, dst=self.pid),
                              Edge(type="declares", src=self.module_id, dst=rid)]
        self.result.edges += [Edge(type="depends_on", src=rid, dst=d) for d in sorted(deps) if d != rid]
        return rid
