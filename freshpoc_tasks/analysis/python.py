"""Python analyzer: modules, classes, functions, imports and calls from the stdlib ``ast``.

Source is parsed, never imported or executed. One pass over the tree collects definitions and,
per function, the calls and decision points, so the cost stays a small multiple of
``ast.parse`` itself (the benchmark holds us to 3x). Names that point into other files are
left as ``Ref`` values for the linker, which sees the whole repository.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Sequence
from typing import Any

from freshpoc_tasks.analysis.base import AnalysisError, Analyzer
from freshpoc_tasks.analysis.model import Budget, FileResult, Ref, RepoContext, SourceFile
from freshpoc_tasks.analysis.sqlcore import table_refs_from_sql
from freshpoc_tasks.contracts.graph import Diagnostic, Edge, Node

# Confidence of a resolved call edge, by how the callee was found.
CONF_LOCAL = 1.0  # a def in the same module, called by its bare name
CONF_IMPORTED = 0.9  # a name bound by an import, resolved through the repository's modules
CONF_SELF = 0.8  # self.method(): a subclass may override it

# Calls whose first string argument names a table or holds SQL (pandas, Spark, SQLAlchemy).
TABLE_CALLS = {"table", "read_table", "saveAsTable", "insertInto", "read_sql_table", "to_sql", "read_gbq"}
SQL_CALLS = {"read_sql", "read_sql_query", "sql", "execute", "get_pandas_df", "get_records", "run"}
WRITE_CALLS = {"saveAsTable", "insertInto", "to_sql"}

_DECISION = (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler, ast.Assert,
             ast.match_case)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def path_parts(path: str) -> tuple[str, ...]:
    """``PurePosixPath(path).with_suffix("").parts`` of a repository path (git's form: no empty,
    ``.`` or ``..`` parts), with string operations: asked twice per Python file (cache key and
    analysis), the path object was a noticeable part of a small module's analysis."""
    folder, _, name = path.rpartition("/")
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1:  # pathlib's suffix: not a leading dot, not a trailing one
        name = name[:dot]
    return (*folder.split("/"), name) if folder else (name,)


def module_name(path: str, ctx: RepoContext) -> tuple[str, str, bool]:
    """Return (key, importable qualname, is_package) for a .py path.

    The qualname is how the file would be imported: from the topmost folder holding an
    ``__init__.py`` down (``src/`` layouts included). Folders below that package root need no
    ``__init__.py`` of their own: Python imports them as namespace portions of the package
    (flask's ``sansio/app.py`` is ``flask.sansio.app``), as long as their names are identifiers.
    A loose file is importable by its stem, but its key is the dotted path so two ``utils.py``
    in different folders get different ids. For files in ``__init__.py`` chains the key is the
    qualname, so ids of ordinary packages do not depend on this rule.
    """
    parts = path_parts(path)
    start = len(parts) - 1
    while start > 0 and ctx.exists("/".join(parts[:start]) + "/__init__.py"):
        start -= 1
    # Climb past namespace folders to a package root higher up, if there is one.
    for root in range(1, start):
        if ctx.exists("/".join(parts[:root]) + "/__init__.py"):
            if all(p.isidentifier() for p in parts[root:start]):
                start = root - 1
            break
    in_package = start < len(parts) - 1
    mod = list(parts[start:])
    is_package = mod[-1] == "__init__"
    if is_package:
        mod = mod[:-1]
    if not mod:  # a top-level __init__.py outside any package
        mod = [parts[-2] if len(parts) > 1 else "__init__"]
    qualname = ".".join(mod)
    if in_package:
        return qualname, qualname, is_package
    key = ".".join(p for p in (parts[:-1] if is_package else parts))
    return key or qualname, qualname, is_package


def dotted(expr: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def _summary(body: Sequence[ast.stmt]) -> str:
    if body and isinstance(body[0], ast.Expr):
        value = body[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            for line in value.value.strip().splitlines():
                return line.strip()[:200]
    return ""


def _signature(args: ast.arguments) -> str:
    def one(a: ast.arg, default: bool) -> str:
        text = a.arg
        if a.annotation is not None:
            ann = dotted(a.annotation)
            text += f": {ann if ann is not None else ast.unparse(a.annotation)}"
        return text + ("=..." if default else "")

    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    out = [one(a, i >= first_default) for i, a in enumerate(positional)]
    if args.posonlyargs:
        out.insert(len(args.posonlyargs), "/")
    if args.vararg:
        out.append("*" + args.vararg.arg)
    elif args.kwonlyargs:
        out.append("*")
    out += [one(a, d is not None) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=False)]
    if args.kwarg:
        out.append("**" + args.kwarg.arg)
    return "(" + ", ".join(out) + ")"


def _decorators(decorators: Sequence[ast.expr]) -> list[str]:
    names = []
    for d in decorators:
        target = d.func if isinstance(d, ast.Call) else d
        names.append(dotted(target) or ast.unparse(target)[:80])
    return names


_DECISION_SET = frozenset(_DECISION)
_SCOPE_SET = frozenset(_SCOPES)
_LEAVES = frozenset({ast.Name, ast.Constant, ast.alias, ast.arg})
_SKIP_FIELDS = frozenset({"ctx", "op", "ops"})
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple(f for f in cls._fields if f not in _SKIP_FIELDS)  # type: ignore[attr-defined]
    return fields


def _scan(body: Sequence[ast.AST]) -> tuple[int, list[ast.Call], list[ast.stmt]]:
    """Decision points, calls and imports of one scope, in a single pass.

    Nested defs and lambdas add no complexity to this scope, but their calls are attributed to
    it: nested functions are not graph nodes of their own. Hand-rolled rather than
    ``ast.walk`` because this loop is most of the analyzer's cost (the benchmark's 3x budget).
    """
    complexity = 0
    calls: list[ast.Call] = []
    imports: list[ast.stmt] = []
    nested: list[ast.AST] = []
    stack: list[Any] = list(body)
    pop, push = stack.pop, stack.append
    node_type = ast.AST
    while stack:
        node = pop()
        cls = node.__class__
        if cls in _SCOPE_SET:
            nested.append(node)
            continue
        if cls is ast.Call:
            calls.append(node)
        elif cls in _LEAVES:
            continue
        elif cls in _DECISION_SET:
            complexity += 1
        elif cls is ast.BoolOp:
            complexity += len(node.values) - 1
        elif cls is ast.comprehension:
            complexity += 1 + len(node.ifs)
        elif cls is ast.Import or cls is ast.ImportFrom:
            imports.append(node)
            continue
        for name in _fields(cls):
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, node_type):
                        push(item)
            elif isinstance(value, node_type):
                push(value)
    for scope in nested:
        children = [getattr(scope, f, None) for f in _fields(scope.__class__)]
        flat: list[ast.AST] = []
        for child in children:
            if child.__class__ is list:
                flat.extend(c for c in child if isinstance(c, node_type))
            elif isinstance(child, node_type):
                flat.append(child)
        _, inner_calls, inner_imports = _scan(flat)
        calls += inner_calls
        imports += inner_imports
    return complexity, calls, imports


class _ModuleAnalysis:
    def __init__(self, analyzer: PythonAnalyzer, file: SourceFile, ctx: RepoContext, budget: Budget,
                 tree: ast.Module) -> None:
        self.a = analyzer
        self.file = file
        self.ctx = ctx
        self.budget = budget
        self.tree = tree
        self.key, self.qualname, self.is_package = module_name(file.path, ctx)
        self.module_id = ctx.nid("py.module", self.key)
        self.result = FileResult(path=file.path, analyzer=analyzer.name)
        self.aliases: dict[str, str] = {}  # local name -> absolute dotted target
        self.local_defs: dict[str, str] = {}  # top-level name -> node id
        self.class_methods: dict[str, dict[str, str]] = {}  # class node id -> method -> id
        self.file_id = ctx.file_id(file.path)
        self._pending_calls: list[tuple[str, list[ast.Call], str | None]] = []
        self._toplevel_names = _toplevel_names(tree)
        self._import_nodes: list[ast.stmt] = []
        self._pending_bases: list[tuple[str, str]] = []

    # -- helpers --------------------------------------------------------------------------
    def _absolute(self, module: str | None, level: int) -> str | None:
        """The absolute module a (relative) ``from`` import names; None when it has none.

        Inside a package, climbing above the top-level package is an error in Python too
        ("attempted relative import beyond top-level package"), so it resolves to nothing
        rather than to a made-up absolute name. A loose script's ``from .x import y`` keeps
        meaning the sibling ``x``: the linker finds it next to the importer.
        """
        if level == 0:
            return module or None
        package = self.qualname if self.is_package else self.qualname.rpartition(".")[0]
        parts = package.split(".") if package else []
        if parts and level - 1 >= len(parts):
            return None
        parts = parts[: len(parts) - (level - 1)]
        if module:
            parts.append(module)
        return ".".join(parts) or None

    def _add_node(self, node_type: str, key: str, name: str, span: tuple[int, int] | None,
                  **props: Any) -> str:
        nid = self.ctx.nid(node_type, key)
        self.result.nodes.append(Node(id=nid, type=node_type, scope=self.ctx.repo_id, key=key, name=name,
                                      path=self.file.path, span=span, props=props))
        self.result.edges.append(Edge(type="defined_in", src=nid, dst=self.file_id))
        return nid

    # -- passes ---------------------------------------------------------------------------
    def run(self) -> FileResult:
        lines = self.tree.body[-1].end_lineno if self.tree.body else 0
        self._add_node("py.module", self.key, self.qualname.rpartition(".")[2] or self.key,
                       (1, lines or 1), qualname=self.qualname, is_package=self.is_package,
                       docstring=_summary(self.tree.body), lines=lines or 0)
        self._define(self.tree.body, self.key, self.module_id, None)
        self._collect_imports()
        for cid, name in self._pending_bases:
            target = self._resolve_name(name)
            if target is not None:
                self.result.refs.append(Ref(kind="py.symbol", src=cid, target=target, edge="inherits"))
        self.finish_calls()
        self.result.facts = {"module": self.qualname, "module_id": self.module_id, "aliases": self.aliases,
                             "is_package": self.is_package}
        return self.result

    def _collect_imports(self) -> None:
        """One ``py.import`` ref per imported module and statement form, for the linker.

        ``import X`` and ``from X import a`` stay separate refs: the first depends on X itself,
        the second on X's submodule ``a`` when there is one, else on X. Merging them would lose
        the dependency on X whenever ``a`` is a submodule.
        """
        imports: dict[tuple[str, bool], tuple[dict[str, int], int]] = {}
        for node in sorted(self._import_nodes, key=lambda n: (n.lineno, n.col_offset)):
            line = node.lineno
            if isinstance(node, ast.Import):
                for alias in node.names:
                    imports.setdefault((alias.name, False), ({}, line))
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.partition(".")[0]
                        self.aliases.setdefault(top, top)
            elif isinstance(node, ast.ImportFrom):
                base = self._absolute(node.module, node.level)
                if base is None:
                    where = (f"goes above the top-level package of {self.qualname}"
                             if "." in self.qualname or self.is_package else "in a file outside any package")
                    self.result.diagnostics.append(Diagnostic(
                        path=self.file.path, analyzer=self.a.name, severity="warning",
                        code="unresolved_import", line=line or None,
                        message=f"relative import {'.' * node.level}{node.module or ''} {where}"))
                    continue
                names = imports.setdefault((base, True), ({}, line))[0]
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    names.setdefault(alias.name, line)
                    self.aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
        for (target, from_form), (names, line) in sorted(imports.items()):
            props: dict[str, Any] = {"names": sorted(names), "line": line}
            if from_form:
                props["from"] = True
                if any(n != line for n in names.values()):  # where each name is imported, for diagnostics
                    props["lines"] = names
            self.result.refs.append(Ref(kind="py.import", src=self.module_id, target=target, edge="imports",
                                        props=props))

    def _define(self, body: Sequence[ast.stmt], prefix: str, parent_id: str, class_id: str | None) -> None:
        """Walk statements for defs; module-level code is scanned for calls too."""
        loose: list[ast.AST] = []
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self._function(stmt, prefix, parent_id, class_id)
                loose.extend(stmt.decorator_list)
            elif isinstance(stmt, ast.ClassDef):
                self._class(stmt, prefix, parent_id)
                loose.extend(stmt.decorator_list)
                loose.extend(stmt.bases)
            elif isinstance(stmt, ast.If | ast.Try) and class_id is None:
                # defs under `if TYPE_CHECKING:` / `try: ... except ImportError:` still count
                loose.append(stmt.test if isinstance(stmt, ast.If) else ast.Pass())
                for part in ("body", "orelse", "finalbody"):
                    self._define(getattr(stmt, part, []), prefix, parent_id, class_id)
                for handler in getattr(stmt, "handlers", []):
                    self._define(handler.body, prefix, parent_id, class_id)
            else:
                loose.append(stmt)
        if class_id is None and prefix == self.key:
            _, calls, imports = _scan(loose)
            self._import_nodes += imports
            self._calls(self.module_id, calls, None)
        elif class_id is not None:
            # imports in a class body (or under an ``if`` in it) run when the module loads
            self._import_nodes += _scan(loose)[2]

    def _class(self, node: ast.ClassDef, prefix: str, parent_id: str) -> None:
        self.budget.check()
        key = f"{prefix}.{node.name}"
        bases = [dotted(b) or ast.unparse(b)[:80] for b in node.bases]
        cid = self._add_node("py.class", key, node.name, (node.lineno, node.end_lineno or node.lineno),
                             qualname=key[len(self.key) + 1:], bases=bases,
                             decorators=_decorators(node.decorator_list), docstring=_summary(node.body))
        self.result.edges.append(Edge(type="contains", src=parent_id, dst=cid))
        if prefix == self.key:
            self.local_defs[node.name] = cid
        self.class_methods[cid] = {}
        for base in node.bases:
            name = dotted(base)
            if name is not None:
                self._pending_bases.append((cid, name))  # resolved once all imports are known
        self._define(node.body, key, cid, cid)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str, parent_id: str,
                  class_id: str | None) -> None:
        self.budget.check()
        key = f"{prefix}.{node.name}"
        complexity, calls, imports = _scan(node.body)
        self._import_nodes += imports
        fid = self._add_node(
            "py.function", key, node.name, (node.lineno, node.end_lineno or node.lineno),
            qualname=key[len(self.key) + 1:], kind="method" if class_id else "function",
            signature=_signature(node.args), decorators=_decorators(node.decorator_list),
            docstring=_summary(node.body), complexity=1 + complexity,
            is_async=isinstance(node, ast.AsyncFunctionDef))
        self.result.edges.append(Edge(type="contains", src=parent_id, dst=fid))
        if class_id is not None:
            self.class_methods[class_id][node.name] = fid
        elif prefix == self.key:
            self.local_defs[node.name] = fid
        self._pending_calls.append((fid, calls, class_id))

    def _resolve_name(self, name: str) -> str | None:
        head, _, rest = name.partition(".")
        if head in self.aliases:
            target = self.aliases[head]
            return f"{target}.{rest}" if rest else target
        if head in self.local_defs or head in self._toplevel_names:
            return f"{self.qualname}.{name}"
        return None

    def _calls(self, src: str, calls: list[ast.Call], class_id: str | None) -> None:
        self._pending_calls.append((src, calls, class_id))

    def finish_calls(self) -> None:
        """Resolve calls after all defs are known, so forward references work."""
        seen: set[tuple[str, str]] = set()
        for src, calls, class_id in self._pending_calls:
            for call in calls:
                self._table_literal(src, call)
                name = dotted(call.func)
                if name is None:
                    continue
                head, _, rest = name.partition(".")
                if head == "self" and class_id is not None and rest and "." not in rest:
                    method = self.class_methods.get(class_id, {}).get(rest)
                    if method is not None:
                        if (src, method) not in seen:
                            seen.add((src, method))
                            self.result.edges.append(Edge(type="calls", src=src, dst=method,
                                                          confidence=CONF_SELF))
                    else:
                        self.result.refs.append(Ref(kind="py.method", src=src, target=rest, edge="calls",
                                                    confidence=CONF_SELF, props={"class": class_id}))
                    continue
                if not rest and head in self.local_defs:
                    dst = self.local_defs[head]
                    if (src, dst) not in seen:
                        seen.add((src, dst))
                        self.result.edges.append(Edge(type="calls", src=src, dst=dst, confidence=CONF_LOCAL))
                    continue
                target = self._resolve_name(name)
                if target is not None:
                    conf = CONF_LOCAL if head in self.local_defs else CONF_IMPORTED
                    if (src, target) not in seen:
                        seen.add((src, target))
                        self.result.refs.append(Ref(kind="py.symbol", src=src, target=target, edge="calls",
                                                    confidence=conf))

    def _table_literal(self, src: str, call: ast.Call) -> None:
        func = call.func
        attr = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if attr is None or (attr not in TABLE_CALLS and attr not in SQL_CALLS):
            return
        arg: ast.expr | None = call.args[0] if call.args else None
        for kw in call.keywords:
            if kw.arg in ("sql", "name", "table_name", "tableName"):
                arg = kw.value
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)) or not arg.value.strip():
            return
        text = arg.value.strip()
        via = f"{attr}()"
        if attr in TABLE_CALLS and " " not in text:
            self.result.refs.append(Ref(kind="sql.table", src=src, target=text, edge="references",
                                        props={"via": via, "write": attr in WRITE_CALLS}))
            return
        for table, _mode in table_refs_from_sql(text, self.ctx.config.sql_dialect):
            self.result.refs.append(Ref(kind="sql.table", src=src, target=table, edge="references",
                                        props={"via": via}))


class PythonAnalyzer(Analyzer):
    name = "python"
    version = "1.3.0"

    def accepts(self, file: SourceFile, ctx: RepoContext) -> bool:
        return file.suffix in (".py", ".pyi") or file.language == "python"

    def context_fingerprint(self, file: SourceFile, ctx: RepoContext) -> str:
        key, qualname, _ = module_name(file.path, ctx)
        return f"{ctx.config.fingerprint()}|{key}|{qualname}"

    def _analyze(self, file: SourceFile, text: str, ctx: RepoContext, budget: Budget) -> FileResult:
        try:
            tree = ast.parse(text, filename=file.path)
        except SyntaxError as exc:
            raise AnalysisError("syntax_error", f"{exc.msg}", exc.lineno) from None
        except ValueError as exc:  # e.g. source with NUL bytes
            raise AnalysisError("syntax_error", str(exc)) from None
        budget.check()
        m = _ModuleAnalysis(self, file, ctx, budget, tree)
        return m.run()


def _toplevel_names(tree: ast.Module) -> set[str]:
    names = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(stmt.name)
    return names


# The standard library of every Python a repository may target, not just the one running here:
# ``_typeshed`` exists only for type checkers, ``compression``/``annotationlib`` arrived in 3.14,
# 3.12 and 3.13 removed ``distutils``, ``imp``, ``cgi`` and others, and Python 2 names still sit
# in ``try: import urllib2 except ImportError:`` fallbacks. None of them is a PyPI distribution.
STDLIB = frozenset(sys.stdlib_module_names) | {
    "_typeshed", "compression", "annotationlib",
    "distutils", "asynchat", "asyncore", "imp", "smtpd", "aifc", "audioop", "cgi", "cgitb", "chunk",
    "crypt", "imghdr", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr",
    "spwd", "sunau", "telnetlib", "uu", "xdrlib", "lib2to3",
    "__builtin__", "_abcoll", "urllib2", "urlparse", "httplib", "HTMLParser", "htmlentitydefs",
    "StringIO", "cStringIO", "ConfigParser", "Queue", "thread", "dummy_thread", "dummy_threading",
    "xmlrpclib", "cPickle", "cookielib", "Cookie", "BaseHTTPServer", "SimpleHTTPServer", "commands",
    "SocketServer", "Tkinter", "repr", "copy_reg", "anydbm", "dbhash", "exceptions",
}

# Import names whose distribution is spelled differently; deterministic on purpose (the
# analysing machine's installed packages must not change the graph).
DISTRIBUTION_OF = {
    "yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn", "bs4": "beautifulsoup4",
    "cv2": "opencv-python", "airflow": "apache-airflow", "dateutil": "python-dateutil",
    "attr": "attrs", "google": "google", "jwt": "pyjwt", "dotenv": "python-dotenv",
    "pulumi_aws": "pulumi-aws", "pulumi_gcp": "pulumi-gcp", "psycopg2": "psycopg2",
    "git": "gitpython", "magic": "python-magic", "jinja2": "jinja2", "pydgraph": "pydgraph",
}


def distribution_for(module: str) -> tuple[str, bool]:
    """(distribution name, is stdlib) for an import that is not in the repository."""
    top = module.partition(".")[0]
    if top in STDLIB:
        return "python-stdlib", True
    # PyPI normalises names to letters, digits and inner dashes: `_pytest` ships in pytest.
    return DISTRIBUTION_OF.get(top, top.lower().replace("_", "-").strip("-") or top), False
