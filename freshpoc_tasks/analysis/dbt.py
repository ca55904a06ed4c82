"""dbt analyzer: projects, models, sources, seeds, snapshots, macros, tests and lineage.

Model SQL is rendered with Jinja in a ``SandboxedEnvironment`` whose ``ref``/``source``/``var``/
``config``/``is_incremental``/``this`` are stand-ins that record what the model asks for and
emit placeholder relation names. Rendering thus depends only on the file, the project's vars and
its macros (the cache key), never on other models; the link step swaps placeholders for real
relations (or, for ephemeral models, inlines their SQL) and computes column lineage in
dependency order so ``*`` expands over upstream columns. Nothing runs against a warehouse.
"""

from __future__ import annotations

import csv
import hashlib
import io
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from jinja2 import ChainableUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.ext import Extension
from jinja2.sandbox import SandboxedEnvironment
from sqlglot import exp
from sqlglot.errors import SqlglotError

from freshpoc_tasks.analysis.base import AnalysisError, Analyzer
from freshpoc_tasks.analysis.model import Budget, FileResult, LinkResult, RepoContext, SourceFile
from freshpoc_tasks.analysis.sql import TableEmitter, dbt_project_root
from freshpoc_tasks.analysis.sqlcore import add_column_lineage, describe_statement, parse_one, table_fqn
from freshpoc_tasks.contracts.graph import Edge, Node

REF_PREFIX = "__dbt_ref__"
SRC_PREFIX = "__dbt_src__"
ADAPTER_DIALECTS = {
    "duckdb": "duckdb", "postgres": "postgres", "redshift": "redshift", "snowflake": "snowflake",
    "bigquery": "bigquery", "databricks": "databricks", "spark": "spark", "trino": "trino",
    "clickhouse": "clickhouse", "athena": "athena", "sqlserver": "tsql", "fabric": "tsql",
}
GENERIC_TESTS = ("unique", "not_null", "accepted_values", "relationships")


class _RaiseError(Exception):
    """``exceptions.raise_compiler_error`` inside a template."""


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


def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=_Missing, extensions=[_BlockTags, "jinja2.ext.do"],
                                autoescape=False)


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


def _safe_yaml(text: str | None) -> Any:
    if not text:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def load_project(root: str, ctx: RepoContext) -> ProjectInfo:
    def rel(p: str) -> str:
        return posixpath.join(root, p) if root else p

    doc = _safe_yaml(ctx.text(rel("dbt_project.yml"))) or {}
    if not isinstance(doc, dict):
        doc = {}
    name = str(doc.get("name") or posixpath.basename(root) or "project")
    profile_name = str(doc.get("profile") or name)
    database, schema, adapter = None, "main", None
    profiles = _safe_yaml(ctx.text(rel("profiles.yml")))
    if isinstance(profiles, dict) and isinstance(profiles.get(profile_name), dict):
        prof = profiles[profile_name]
        outputs = prof.get("outputs") or {}
        target = outputs.get(prof.get("target")) or next(iter(outputs.values()), {})
        if isinstance(target, dict):
            adapter = target.get("type")
            schema = str(target.get("schema") or target.get("dataset") or schema)
            database = target.get("database") or target.get("dbname") or target.get("project")
            if adapter == "duckdb" and not database:
                path = str(target.get("path") or ":memory:")
                database = "memory" if path == ":memory:" else posixpath.splitext(posixpath.basename(path))[0]
    dialect = ADAPTER_DIALECTS.get(str(adapter)) if adapter else None

    def paths(key: str, default: str) -> list[str]:
        value = doc.get(key) or [default]
        return [rel(str(p).strip("/")) for p in (value if isinstance(value, list) else [value])]

    return ProjectInfo(
        name=name, root=root, vars=doc.get("vars") if isinstance(doc.get("vars"), dict) else {},
        model_config=(doc.get("models") or {}) if isinstance(doc.get("models"), dict) else {},
        model_paths=paths("model-paths", "models"), macro_paths=paths("macro-paths", "macros"),
        seed_paths=paths("seed-paths", "seeds"), snapshot_paths=paths("snapshot-paths", "snapshots"),
        database=str(database) if database else None, schema=schema,
        dialect=dialect or ctx.config.sql_dialect, adapter=adapter, profile=profile_name)


def _under(path: str, dirs: Sequence[str]) -> str | None:
    for d in dirs:
        if path.startswith(d + "/"):
            return d
    return None


def _folder_config(project: ProjectInfo, rel_dir_parts: list[str]) -> dict[str, Any]:
    """Merge ``+key`` settings down the ``models:`` tree of dbt_project.yml."""
    config: dict[str, Any] = {}
    level = project.model_config.get(project.name)
    for part in [None, *rel_dir_parts]:
        if part is not None:
            level = level.get(part) if isinstance(level, dict) else None
        if not isinstance(level, dict):
            break
        for k, v in level.items():
            if k.startswith("+"):
                config[k[1:]] = v
            elif k in ("materialized", "schema", "alias", "tags", "enabled") and not isinstance(v, dict):
                config[k] = v
    return config


class _Recorder:
    """Stand-ins for dbt's context; what a template calls is what we learn about the model."""

    def __init__(self, project: ProjectInfo, self_name: str) -> None:
        self.project = project
        self.self_name = self_name
        self.refs: list[list[str]] = []
        self.sources: list[list[str]] = []
        self.config: dict[str, Any] = {}
        self.missing_vars: list[str] = []

    def ref(self, *args: str, **kwargs: Any) -> str:
        names = [str(a) for a in args if a is not None]
        if not names:
            return ""
        self.refs.append(names)
        return REF_PREFIX + names[-1]

    def source(self, source_name: str, table_name: str) -> str:
        self.sources.append([str(source_name), str(table_name)])
        return f"{SRC_PREFIX}{source_name}__{table_name}"

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

        target = {"name": "dev", "schema": self.project.schema, "database": self.project.database,
                  "type": self.project.adapter or "", "profile_name": self.project.profile}
        return {
            "ref": self.ref, "source": self.source, "var": self.var, "config": self.cfg,
            "is_incremental": lambda: False, "this": REF_PREFIX + self.self_name,
            "env_var": lambda name, default="": default, "execute": False,
            "target": target, "project_name": self.project.name,
            "exceptions": {"raise_compiler_error": raise_error, "warn": lambda *a, **k: ""},
            "log": lambda *a, **k: "", "return": lambda value=None: value,
            "run_query": lambda *a, **k: None, "adapter": _Missing(),
        }


class DbtAnalyzer(Analyzer):
    name = "dbt"
    version = "1.0.0"

    def accepts(self, file: SourceFile, ctx: RepoContext) -> bool:
        if file.suffix not in (".sql", ".yml", ".yaml", ".csv"):
            return False
        return dbt_project_root(file.path, ctx) is not None

    def context_fingerprint(self, file: SourceFile, ctx: RepoContext) -> str:
        root = dbt_project_root(file.path, ctx) or ""
        project = load_project(root, ctx)
        h = hashlib.sha256(ctx.config.fingerprint().encode())
        for p in ("dbt_project.yml", "profiles.yml"):
            f = ctx.files.get(posixpath.join(root, p) if root else p)
            h.update((f.blob_sha if f else "-").encode())
        if file.suffix == ".sql":
            for path in sorted(ctx.paths()):
                if path.endswith(".sql") and _under(path, project.macro_paths):
                    h.update(f"{path}={ctx.files[path].blob_sha}".encode())
        return h.hexdigest()

    # -- per file -------------------------------------------------------------------------
    def _analyze(self, file: SourceFile, text: str, ctx: RepoContext, budget: Budget) -> FileResult:
        root = dbt_project_root(file.path, ctx) or ""
        project = load_project(root, ctx)
        result = FileResult(path=file.path, analyzer=self.name,
                            facts={"project": project.name, "root": root})
        rel_project = posixpath.join(root, "dbt_project.yml") if root else "dbt_project.yml"
        if file.path == rel_project:
            self._project_file(file, project, ctx, result)
        elif file.suffix == ".sql" and _under(file.path, project.macro_paths):
            self._macros(file, text, project, ctx, result)
        elif file.suffix == ".sql" and _under(file.path, project.snapshot_paths):
            self._model(file, text, project, ctx, result, budget, kind="snapshot")
        elif file.suffix == ".sql" and _under(file.path, project.model_paths):
            self._model(file, text, project, ctx, result, budget, kind="model")
        elif file.suffix in (".yml", ".yaml") and (_under(file.path, project.model_paths)
                                                   or _under(file.path, project.seed_paths)
                                                   or _under(file.path, project.snapshot_paths)):
            self._schema_yaml(file, text, result)
        elif file.suffix == ".csv" and _under(file.path, project.seed_paths):
            self._seed(file, text, project, ctx, result)
        elif file.name == "packages.yml" or file.name == "dependencies.yml":
            self._packages(file, text, root, ctx, result)
        return result

    def _project_file(self, file: SourceFile, project: ProjectInfo, ctx: RepoContext,
                      result: FileResult) -> None:
        doc = _safe_yaml(file.content.decode("utf-8", "replace"))
        if not isinstance(doc, dict) or "name" not in doc:
            raise AnalysisError("yaml_error", "dbt_project.yml is not a mapping with a name")
        pid = ctx.nid("dbt.project", project.name)
        result.nodes.append(Node(
            id=pid, type="dbt.project", scope=ctx.repo_id, key=project.name, name=project.name,
            path=file.path, props={"version": str(doc.get("version", "")), "profile": project.profile,
                                   "model_paths": project.model_paths, "vars": project.vars,
                                   "dialect": project.dialect or ""}))
        result.edges.append(Edge(type="defined_in", src=pid, dst=ctx.file_id(file.path)))

    def _packages(self, file: SourceFile, text: str, root: str, ctx: RepoContext, result: FileResult) -> None:
        doc = _safe_yaml(text) or {}
        installed = {p.split("/")[1] if root == "" else p[len(root) + 1:].split("/")[1]
                     for p in ctx.paths() if (p.startswith(posixpath.join(root, "dbt_packages") + "/")
                                              if root else p.startswith("dbt_packages/"))}
        for pkg in (doc.get("packages") or []) if isinstance(doc, dict) else []:
            if not isinstance(pkg, dict):
                continue
            name = str(pkg.get("package") or pkg.get("git") or pkg.get("local") or "?")
            short = name.rstrip("/").split("/")[-1].removesuffix(".git")
            if short not in installed:
                result.diagnostics.append(self.diag(
                    file.path, "package_not_installed",
                    f"dbt package {name} is not installed (run dbt deps); its macros render empty",
                    severity="warning"))

    def _render(self, text: str, path: str, recorder: _Recorder, macros: dict[str, Any]) -> str:
        env = _env()
        env.globals.update(recorder.context())
        env.globals.update(macros)
        try:
            template = env.from_string(text)
        except TemplateSyntaxError as exc:
            raise AnalysisError("jinja_syntax_error", exc.message or str(exc), exc.lineno) from None
        try:
            return template.render()
        except (TemplateError, SecurityError, _RaiseError, ArithmeticError, TypeError, ValueError,
                AttributeError, KeyError, IndexError) as exc:
            raise AnalysisError("jinja_render_error", f"{type(exc).__name__}: {exc}") from None

    def _project_macros(self, project: ProjectInfo, ctx: RepoContext, recorder: _Recorder) -> dict[str, Any]:
        """Load the project's macros into one namespace the model template can call."""
        macros: dict[str, Any] = {}
        env = _env()
        env.globals.update(recorder.context())
        for path in sorted(ctx.paths()):
            if not (path.endswith(".sql") and _under(path, project.macro_paths)):
                continue
            try:
                module = env.from_string(ctx.text(path) or "").make_module()
            except Exception:  # a broken macro file is reported on its own, not per model
                continue
            for name in dir(module):
                if not name.startswith("_"):
                    macros[name] = getattr(module, name)
        env.globals.update(macros)
        return macros

    def _model(self, file: SourceFile, text: str, project: ProjectInfo, ctx: RepoContext,
               result: FileResult, budget: Budget, kind: str) -> None:
        name = posixpath.splitext(file.name)[0]
        if kind == "snapshot":
            try:
                parsed = _env().parse(text)
            except TemplateSyntaxError as exc:
                raise AnalysisError("jinja_syntax_error", exc.message or str(exc), exc.lineno) from None
            del parsed
            name = _snapshot_name(text) or name
        recorder = _Recorder(project, name)
        macros = self._project_macros(project, ctx, recorder)
        budget.check()
        rendered = self._render(text, file.path, recorder, macros)
        budget.check()
        used_macros = sorted(_called_names(text) & macros.keys())
        base = _under(file.path, project.snapshot_paths if kind == "snapshot" else project.model_paths) or ""
        rel_dir = posixpath.dirname(file.path[len(base) + 1:])
        config = _folder_config(project, rel_dir.split("/") if rel_dir else []) if kind == "model" else {}
        config.update(recorder.config)
        materialized = str(config.get("materialized") or ("snapshot" if kind == "snapshot" else "view"))
        node_type = f"dbt.{kind}"
        key = f"{project.name}.{name}"
        nid = ctx.nid(node_type, key)
        props: dict[str, Any] = {"materialized": materialized} if kind == "model" else {
            "strategy": str(config.get("strategy", "")), "unique_key": str(config.get("unique_key", ""))}
        if kind == "model":
            props.update({"schema": str(config.get("schema", "")), "alias": str(config.get("alias", "")),
                          "tags": [str(t) for t in (config.get("tags") or [])]
                          if isinstance(config.get("tags"), list) else [str(config.get("tags"))]
                          if config.get("tags") else []})
        result.nodes.append(Node(id=nid, type=node_type, scope=ctx.repo_id, key=key, name=name,
                                 path=file.path, props=props))
        result.edges.append(Edge(type="defined_in", src=nid, dst=ctx.file_id(file.path)))
        for var in sorted(set(recorder.missing_vars)):
            result.diagnostics.append(self.diag(file.path, "missing_var",
                                                f"var {var!r} has no value or default", severity="warning"))
        result.facts.update({
            "kind": kind, "name": name, "id": nid, "rendered": rendered, "refs": recorder.refs,
            "sources": recorder.sources, "config": {k: v for k, v in config.items()
                                                    if isinstance(v, str | int | float | bool)},
            "macros": used_macros, "materialized": materialized})

    def _macros(self, file: SourceFile, text: str, project: ProjectInfo, ctx: RepoContext,
                result: FileResult) -> None:
        try:
            tree = _env().parse(text)
        except TemplateSyntaxError as exc:
            raise AnalysisError("jinja_syntax_error", exc.message or str(exc), exc.lineno) from None
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
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AnalysisError("yaml_error", str(exc).splitlines()[0]) from None
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
        key = f"{project.name}.{name}"
        sid = ctx.nid("dbt.seed", key)
        columns = [h.strip().lower() for h in header if h.strip()]
        result.nodes.append(Node(id=sid, type="dbt.seed", scope=ctx.repo_id, key=key, name=name,
                                 path=file.path, props={"columns": columns}))
        result.edges.append(Edge(type="defined_in", src=sid, dst=ctx.file_id(file.path)))
        result.facts.update({"kind": "seed", "name": name, "id": sid, "columns": columns})

    # -- project level --------------------------------------------------------------------
    def link(self, own: Sequence[FileResult], ctx: RepoContext) -> LinkResult:
        out = LinkResult()
        by_project: dict[str, list[FileResult]] = {}
        for r in own:
            by_project.setdefault(r.facts.get("root", ""), []).append(r)
        for root, results in sorted(by_project.items()):
            _ProjectLinker(self, load_project(root, ctx), results, ctx, out).run()
        return out


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


def _called_names(text: str) -> set[str]:
    try:
        tree = _env().parse(text)
    except TemplateSyntaxError:
        return set()
    return {n.node.name for n in tree.find_all(nodes.Call) if isinstance(n.node, nodes.Name)}


class _ProjectLinker:
    """Resolves one project's refs, merges schema YAML, and runs lineage in dependency order."""

    def __init__(self, analyzer: DbtAnalyzer, project: ProjectInfo, results: list[FileResult],
                 ctx: RepoContext, out: LinkResult) -> None:
        self.a = analyzer
        self.p = project
        self.results = results
        self.ctx = ctx
        self.out = out
        self.emit = TableEmitter(ctx, out.nodes, out.edges)
        self.project_id = ctx.nid("dbt.project", project.name)
        self.models = {r.facts["name"]: r for r in results if r.facts.get("kind") == "model"}
        self.snapshots = {r.facts["name"]: r for r in results if r.facts.get("kind") == "snapshot"}
        self.seeds = {r.facts["name"]: r for r in results if r.facts.get("kind") == "seed"}
        self.yaml = [r for r in results if r.facts.get("kind") == "schema_yaml"]
        self.macros = {m: r for r in results if r.facts.get("kind") == "macros" for m in r.facts["macros"]}
        self.sources: dict[tuple[str, str], dict[str, Any]] = {}
        self.model_yaml: dict[str, dict[str, Any]] = {}

    # relation names ---------------------------------------------------------------------
    def relation(self, schema: str, name: str, database: str | None = None) -> str:
        db = database if database is not None else self.p.database
        return ".".join(p for p in (db, schema, name) if p).lower()

    def model_relation(self, r: FileResult) -> str:
        cfg = r.facts.get("config", {})
        if r.facts["kind"] == "snapshot":
            return self.relation(str(cfg.get("target_schema") or cfg.get("schema") or self.p.schema),
                                 r.facts["name"], cfg.get("target_database"))
        schema = self.p.schema + (f"_{cfg['schema']}" if cfg.get("schema") else "")
        return self.relation(schema, str(cfg.get("alias") or r.facts["name"]), cfg.get("database"))

    def run(self) -> None:
        for r in self.results:
            for n in r.nodes:
                if n.type != "dbt.project":
                    self.out.edges.append(Edge(type="belongs_to", src=n.id, dst=self.project_id))
        self._read_yaml()
        self._seeds()
        for name, r in {**self.models, **self.snapshots}.items():
            self._dependencies(name, r)
        self._lineage()
        self._tests()

    def _read_yaml(self) -> None:
        for r in self.yaml:
            for src in r.facts.get("sources", []):
                sname = str(src.get("name", ""))
                for table in _as_list(src.get("tables")):
                    tname = str(table.get("name", ""))
                    self.sources[(sname, tname)] = {"source": src, "table": table, "path": r.path}
            for key in ("models", "seeds", "snapshots"):
                for m in r.facts.get(key, []):
                    self.model_yaml[str(m.get("name", ""))] = {**m, "__path": r.path}
        for (sname, tname), info in sorted(self.sources.items()):
            src, table = info["source"], info["table"]
            key = f"{self.p.name}.{sname}.{tname}"
            sid = self.ctx.nid("dbt.source", key)
            identifier = str(table.get("identifier") or tname)
            self.out.nodes.append(Node(
                id=sid, type="dbt.source", scope=self.ctx.repo_id, key=key, name=f"{sname}.{tname}",
                path=info["path"],
                props={"source_name": sname, "identifier": identifier,
                       "description": str(table.get("description") or src.get("description") or ""),
                       "loader": str(src.get("loader") or "")}))
            self.out.edges += [Edge(type="defined_in", src=sid, dst=self.ctx.file_id(info["path"])),
                               Edge(type="belongs_to", src=sid, dst=self.project_id)]
            fqn = self.relation(str(src.get("schema") or sname), identifier, src.get("database"))
            info["fqn"] = fqn
            info["id"] = sid
            self.out.edges.append(Edge(type="materializes_as", src=sid, dst=self.emit.table(fqn)))
            for col in _as_list(table.get("columns")):
                self.emit.column(fqn, str(col.get("name", "")).lower(), str(col.get("description") or ""))

    def _seeds(self) -> None:
        for _name, r in sorted(self.seeds.items()):
            fqn = self.relation(self.p.schema, r.facts["name"])
            self.out.edges.append(Edge(type="materializes_as", src=r.facts["id"], dst=self.emit.table(fqn)))
            for col in r.facts.get("columns", []):
                self.emit.column(fqn, col)

    def _target(self, names: list[str]) -> str | None:
        name = names[-1]
        if len(names) == 2 and names[0] != self.p.name:
            return None  # a package's model: not in this project
        for table, node_type in ((self.models, "dbt.model"), (self.snapshots, "dbt.snapshot"),
                                 (self.seeds, "dbt.seed")):
            if name in table:
                return self.ctx.nid(node_type, f"{self.p.name}.{name}")
        return None

    def _dependencies(self, name: str, r: FileResult) -> None:
        src = r.facts["id"]
        for names in r.facts.get("refs", []):
            dst = self._target(names)
            if dst is None:
                self.out.diagnostics.append(self.a.diag(r.path, "unresolved_ref",
                                                        f"ref({', '.join(names)}) matches no node",
                                                        severity="warning"))
            elif dst != src:
                self.out.edges.append(Edge(type="depends_on", src=src, dst=dst))
        for sname, tname in r.facts.get("sources", []):
            info = self.sources.get((sname, tname))
            if info is None:
                self.out.diagnostics.append(self.a.diag(r.path, "unresolved_source",
                                                        f"source({sname}, {tname}) is not declared",
                                                        severity="warning"))
            else:
                self.out.edges.append(Edge(type="depends_on", src=src, dst=info["id"]))
        for macro in r.facts.get("macros", []):
            self.out.edges.append(Edge(type="uses_macro", src=src,
                                       dst=self.ctx.nid("dbt.macro", f"{self.p.name}.{macro}")))

    def _order(self) -> list[FileResult]:
        nodes_ = {**self.models, **{f"__snap__{k}": v for k, v in self.snapshots.items()}}
        order: list[FileResult] = []
        state: dict[str, int] = {}

        def visit(key: str, depth: int = 0) -> None:
            if state.get(key) or depth > 500:
                return
            state[key] = 1
            for names in nodes_[key].facts.get("refs", []):
                if names[-1] in self.models:
                    visit(names[-1], depth + 1)
            order.append(nodes_[key])

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
                schema[self.relation(self.p.schema, r.facts["name"])] = dict.fromkeys(r.facts["columns"],
                                                                                      "unknown")
        ephemeral: dict[str, exp.Query] = {}
        for r in self._order():
            fqn = self.model_relation(r)
            is_ephemeral = r.facts.get("materialized") == "ephemeral"
            if not is_ephemeral:
                self.out.edges.append(Edge(type="materializes_as", src=r.facts["id"],
                                           dst=self.emit.table(fqn)))
            try:
                stmt = parse_one(r.facts.get("rendered", ""), self.p.dialect)
            except SqlglotError as exc:
                self.out.diagnostics.append(self.a.diag(r.path, "sql_parse_error",
                                                        str(exc).splitlines()[0][:300], severity="warning"))
                continue
            if stmt is None:
                continue
            self._swap_placeholders(stmt, r.facts["name"])
            info = describe_statement(stmt)
            sources = {k: v for k, v in ephemeral.items() if k in info.reads}
            add_column_lineage(info, stmt, self.p.dialect, schema, sources)
            if info.lineage_error:
                self.out.diagnostics.append(self.a.diag(r.path, "lineage_incomplete", info.lineage_error,
                                                        severity="warning"))
            if is_ephemeral and isinstance(stmt, exp.Query):
                ephemeral[f"{REF_PREFIX}{r.facts['name']}".lower()] = stmt
                continue
            if info.columns:
                schema[fqn] = dict.fromkeys(info.columns, "unknown")
            described = {str(c.get("name", "")).lower(): str(c.get("description") or "")
                         for c in _as_list(self.model_yaml.get(r.facts["name"], {}).get("columns"))}
            for column in info.columns:
                self.emit.column(fqn, column, described.get(column, ""))
            self.emit.lineage(fqn, info.columns)

    def _swap_placeholders(self, stmt: exp.Expr, self_name: str) -> None:
        for table in list(stmt.find_all(exp.Table)):
            name = table.name
            if name.startswith(REF_PREFIX):
                target = name[len(REF_PREFIX):]
                r = self.models.get(target) or self.snapshots.get(target)
                if r is not None and r.facts.get("materialized") == "ephemeral":
                    continue  # stays a placeholder; lineage inlines it through ``sources``
                fqn = (self.model_relation(r) if r is not None else
                       self.relation(self.p.schema, target))
            elif name.startswith(SRC_PREFIX):
                sname, _, tname = name[len(SRC_PREFIX):].partition("__")
                info = self.sources.get((sname, tname))
                fqn = info["fqn"] if info else self.relation(sname, tname)
            else:
                continue
            parts = fqn.split(".")
            alias = table.args.get("alias")
            new = exp.to_table(".".join(exp.to_identifier(p).sql() for p in parts))
            if alias is not None:
                new.set("alias", alias)
            elif table_fqn(table) != parts[-1]:
                new.set("alias", exp.TableAlias(this=exp.to_identifier(parts[-1])))
            table.replace(new)

    def _tests(self) -> None:
        for name, spec in sorted(self.model_yaml.items()):
            target = self._target([name])
            if target is None:
                continue
            path = spec["__path"]
            for test, column in self._declared_tests(spec):
                test_name = test if isinstance(test, str) else next(iter(test), "")
                kwargs = test.get(test_name) if isinstance(test, dict) else None
                kwargs = kwargs if isinstance(kwargs, dict) else {}
                if isinstance(kwargs.get("arguments"), dict):  # dbt >= 1.10 nests them
                    kwargs = {**kwargs, **kwargs.pop("arguments")}
                key = f"{self.p.name}.{test_name}.{name}" + (f".{column}" if column else "")
                tid = self.ctx.nid("dbt.test", key)
                self.out.nodes.append(Node(
                    id=tid, type="dbt.test", scope=self.ctx.repo_id, key=key, name=test_name, path=path,
                    props={"test_name": test_name, "column": column or "",
                           "kwargs": {k: v for k, v in kwargs.items()
                                      if isinstance(v, str | int | float | list)}}))
                self.out.edges += [Edge(type="tests", src=tid, dst=target),
                                   Edge(type="defined_in", src=tid, dst=self.ctx.file_id(path)),
                                   Edge(type="belongs_to", src=tid, dst=self.project_id)]
                to = kwargs.get("to") if test_name == "relationships" else None
                if isinstance(to, str) and to.startswith("ref("):
                    other = self._target([to[4:].strip("()'\" ")])
                    if other is not None:
                        self.out.edges.append(Edge(type="tests", src=tid, dst=other))

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

