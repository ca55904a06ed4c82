"""Cross-file resolution of the ``Ref`` values analyzers leave behind.

Runs after every file is analysed (or read from the cache): the Python import graph, calls and
base classes that cross modules, and table names found in strings matched to tables that SQL,
dbt or Airflow analysis already knows.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence

from freshpoc_tasks.analysis.model import FileResult, LinkResult, Ref, RepoContext
from freshpoc_tasks.analysis.python import STDLIB, distribution_for, path_parts
from freshpoc_tasks.contracts.graph import Diagnostic, Edge, Node, node_id

CONF_SUFFIX = 0.8  # a table literal matched a known table by its trailing name parts only
CONF_AMBIGUOUS_MODULE = 0.5


class _PythonIndex:
    """Modules, defs and aliases of all Python files, for resolving dotted names across files."""

    def __init__(self, results: Sequence[FileResult]) -> None:
        self.modules: dict[str, list[str]] = defaultdict(list)  # qualname -> module ids
        self.module_dir: dict[str, str] = {}
        self.module_path: dict[str, str] = {}
        self.aliases: dict[str, dict[str, str]] = {}  # module id -> alias map
        self.defs: dict[str, dict[str, str]] = defaultdict(dict)  # module id -> def qualname -> id
        self.members: dict[str, dict[str, str]] = defaultdict(dict)  # class id -> method -> id
        # Files in folders without __init__.py by the other dotted names they answer to when
        # their folder or one above it is on sys.path: dags/common/utils.py is `common.utils`
        # for Airflow's DAG folder, tests/unit/x/conftest.py is `conftest` for pytest.
        self.loose: dict[str, list[str]] = defaultdict(list)
        self.loose_ids: set[str] = set()
        self.packages: set[str] = set()  # module ids of __init__.py files
        package_dirs = {r.path.rpartition("/")[0] for r in results if r.facts.get("is_package")}
        for r in results:
            mod = r.facts.get("module")
            mid = r.facts.get("module_id")
            if not mod or not mid:
                continue
            if mid not in self.modules[mod]:  # foo.py and its stub foo.pyi are one module
                self.modules[mod].append(mid)
            self.module_dir[mid] = r.path.rpartition("/")[0]
            self.module_path.setdefault(mid, r.path)
            self.aliases[mid] = r.facts.get("aliases", {})
            if r.facts.get("is_package"):
                self.packages.add(mid)
            elif self.module_dir[mid] not in package_dirs:
                if "." not in mod:
                    self.loose_ids.add(mid)
                parts = path_parts(r.path)
                for i in range(len(parts) - 1, -1, -1):
                    name = ".".join(parts[i:])
                    if not parts[i].isidentifier():
                        break
                    if name != mod and mid not in self.loose[name]:
                        self.loose[name].append(mid)
            for n in r.nodes:
                if n.type in ("py.class", "py.function"):
                    self.defs[mid].setdefault(n.props["qualname"], n.id)
            for e in r.edges:
                if e.type == "contains" and e.src.startswith("py.class:"):
                    self.members[e.src][e.dst.rpartition(".")[2]] = e.dst
        self.bases: dict[str, list[str]] = defaultdict(list)
        # Folders without __init__.py inside a package: importable, with no file of their own.
        self.namespaces = {q.rsplit(".", k)[0] for q in self.modules for k in range(1, q.count(".") + 1)}
        self.namespaces -= set(self.modules)

    def module(self, qualname: str, near: str | None = None) -> tuple[str, float] | None:
        """The module importable as ``qualname`` from module ``near``, with a confidence."""
        ids = self.modules.get(qualname)
        if not ids:
            return None
        # a loose scripts/types.py shadows the stdlib only for importers beside it
        strict = qualname in STDLIB and all(i in self.loose_ids for i in ids)
        return self._pick(ids, qualname, near, strict=strict)

    def loose_module(self, name: str, near: str | None = None) -> tuple[str, float] | None:
        """A file in a folder without ``__init__.py`` by one of its other names (``common.utils``,
        ``conftest``), from an importer inside the folder that name implies is on sys.path.

        A bare file name also matches from elsewhere when it is the only one (a low-confidence
        guess: scripts that extend sys.path), as loose files always did, but never for a stdlib
        name, so a namespace portion's ``types.py`` does not capture ``import types``.
        """
        ids = self.loose.get(name)
        strict = "." in name or name in STDLIB
        return self._pick(ids, name, near, strict=strict) if ids else None

    def ambiguous(self, name: str) -> list[str]:
        """Files of the several modules answering to ``name``, when there are several."""
        ids = self.modules.get(name, [])
        if len(ids) < 2 or (name in STDLIB and all(i in self.loose_ids for i in ids)):
            return []  # loose files named like the stdlib shadow it only beside themselves
        return sorted(self.module_path[i] for i in ids)

    def _root(self, mid: str, name: str) -> str:
        """The folder that must be on sys.path for ``mid`` to be importable as ``name``."""
        depth = name.count(".") + 1 + (mid in self.packages)
        return "/".join(self.module_path[mid].split("/")[:-depth])

    def _pick(self, ids: list[str], name: str, near: str | None,
              strict: bool = False) -> tuple[str, float] | None:
        """Choose among the modules answering to ``name``, as sys.path would from ``near``.

        Which folders are on sys.path is written down nowhere. The likely ones hold the importer:
        its own folder (a script's sys.path[0], Airflow's DAG folder) or one above it; of those,
        the nearest wins, as sys.path[0] comes first. A package module is also found from
        anywhere (it gets installed). A loose file elsewhere is a guess (low confidence) when it
        is the only candidate, and no answer at all when there are several: the linker reports
        the import as ambiguous instead of drawing an arbitrary edge.
        """
        if near is not None:
            here = self.module_dir.get(near, "") + "/"
            plausible = []
            for i in ids:
                root = self._root(i, name)
                if not root or here.startswith(root + "/"):
                    plausible.append((root.count("/") + bool(root), i))
            if plausible:
                nearest = max(d for d, _ in plausible)
                best = sorted(i for d, i in plausible if d == nearest)
                return best[0], (1.0 if len(best) == 1 else CONF_AMBIGUOUS_MODULE)
            if strict:
                return None
        if len(ids) == 1:
            loose_elsewhere = near is not None and (ids[0] in self.loose_ids or name in self.loose)
            return ids[0], (CONF_AMBIGUOUS_MODULE if loose_elsewhere else 1.0)
        if near is not None:
            return None
        return sorted(ids)[0], CONF_AMBIGUOUS_MODULE

    def any_module(self, name: str, near: str | None = None) -> tuple[str, float] | None:
        return self.module(name, near) or self.loose_module(name, near)

    def symbol(self, target: str, near: str | None = None, depth: int = 0) -> str | None:
        """Find a def by dotted name, following re-exports (``from .x import y`` in __init__)."""
        parts = target.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            found = self.any_module(".".join(parts[:cut]), near)
            if found is None:
                continue
            dst = self.defs.get(found[0], {}).get(".".join(parts[cut:]))
            if dst is not None or depth > 5:
                return dst
            alias = self.aliases.get(found[0], {}).get(parts[cut])
            if alias is not None and alias != target:
                return self.symbol(".".join([alias, *parts[cut + 1:]]), found[0], depth + 1)
            return None
        return None

    def method(self, class_id: str, name: str) -> str | None:
        seen = set()
        queue = deque([class_id])
        while queue:
            cid = queue.popleft()
            if cid in seen:
                continue
            seen.add(cid)
            if name in self.members.get(cid, {}):
                return self.members[cid][name]
            queue.extend(self.bases.get(cid, []))
        return None


def link_refs(refs: Sequence[Ref], results: Mapping[str, Sequence[FileResult]], nodes: Sequence[Node],
              ctx: RepoContext) -> LinkResult:
    out = LinkResult()
    py = _PythonIndex(results.get("python", []))
    # Top-level names of the repository's packages: an import below one that matches no module
    # is ours but broken. A loose file's name claims nothing (it may shadow an installed one).
    top_packages = {q.partition(".")[0] for q, ids in py.modules.items()
                    if not all(i in py.loose_ids for i in ids)}
    by_kind: dict[str, list[Ref]] = defaultdict(list)
    for ref in refs:
        by_kind[ref.kind].append(ref)

    # Imports: to a repository module when one matches exactly, else to the external
    # distribution; an import of our own packages that matches no module is a diagnostic.
    dists: set[str] = set()
    for ref in by_kind["py.import"]:
        names = ref.props.get("names", [])
        resolved = _import_targets(py, ref)
        if resolved is not None:
            targets, missing = resolved
            for dst, conf in targets:
                if dst != ref.src:
                    out.edges.append(Edge(type="imports", src=ref.src, dst=dst, confidence=conf,
                                          props={"names": names}))
            for name in missing:
                out.diagnostics.append(_unresolved(
                    py, ref, f"{ref.target}.{name} is not a module of the namespace package {ref.target}",
                    name))
            continue
        candidates = py.ambiguous(ref.target)
        if candidates:
            out.diagnostics.append(_unresolved(
                py, ref, f"{len(candidates)} files answer to {ref.target} ({', '.join(candidates[:5])}), "
                         f"none in a folder the importer sees", code="ambiguous_import"))
            continue
        if ref.target.partition(".")[0] in top_packages:
            out.diagnostics.append(_unresolved(py, ref, f"no module {ref.target} in the repository "
                                                        f"(generated, optional or removed?)"))
            continue
        dist, stdlib = distribution_for(ref.target)
        did = node_id("py.distribution", "pypi", dist)
        if dist not in dists:
            dists.add(dist)
            out.nodes.append(Node(id=did, type="py.distribution", scope="pypi", key=dist, name=dist,
                                  props={"import_name": ref.target.partition(".")[0], "stdlib": stdlib}))
        out.edges.append(Edge(type="imports", src=ref.src, dst=did, props={"names": names}))

    # Symbols: base classes first, since self.method() resolution walks them.
    symbol_refs = sorted(by_kind["py.symbol"], key=lambda r: r.edge != "inherits")
    for ref in symbol_refs:
        dst = py.symbol(ref.target, ref.src)
        if dst is None or dst == ref.src:
            continue
        if ref.edge == "inherits":
            if not dst.startswith("py.class:"):
                continue
            py.bases[ref.src].append(dst)
        out.edges.append(Edge(type=ref.edge, src=ref.src, dst=dst, confidence=ref.confidence))
    for ref in by_kind["py.method"]:
        dst = py.method(ref.props["class"], ref.target)
        if dst is not None:
            out.edges.append(Edge(type="calls", src=ref.src, dst=dst, confidence=ref.confidence))

    # Table names in strings: exact, then by unique suffix, else a new table node.
    known = {n.key for n in nodes if n.type == "sql.table"}
    made: set[str] = set()
    for ref in by_kind["sql.table"]:
        name = ref.target.lower().strip('"`[]')
        conf = 1.0
        if name not in known:
            matches = sorted(k for k in known if k.endswith("." + name))
            if len(matches) == 1:
                name, conf = matches[0], CONF_SUFFIX
            elif name not in made:
                made.add(name)
                out.nodes.append(Node(id=ctx.table_id(name), type="sql.table", scope=ctx.config.warehouse,
                                      key=name, name=name.rpartition(".")[2], props={"fqn": name}))
        out.edges.append(Edge(type=ref.edge, src=ref.src, dst=ctx.table_id(name), confidence=conf,
                              props={k: v for k, v in ref.props.items() if k == "via"}))

    _merge_import_names(out)
    handled = {"py.import", "py.symbol", "py.method", "sql.table"}
    for kind in sorted(set(by_kind) - handled):
        out.diagnostics.append(Diagnostic(
            path="", analyzer="linker", severity="warning", code="unknown_ref",
            message=f"{len(by_kind[kind])} references of unknown kind {kind!r}"))
    return out


def _import_targets(py: _PythonIndex, ref: Ref) -> tuple[list[tuple[str, float]], list[str]] | None:
    """The repository modules one import statement depends on, as Python resolves them.

    ``import X`` depends on X. ``from X import a`` depends on the submodule ``X.a`` when there is
    one, else on X itself, where the name ``a`` is defined (grimp draws the same edges). A target
    that is not a module is never replaced by a parent package: that would invent a dependency.
    Returns None when X is not in the repository, else the targets and the names that cannot
    exist: a namespace package (a folder without ``__init__.py``) has no module node and no
    names of its own, only submodules, so an import of one draws no edge.
    """
    names = ref.props.get("names", [])
    found = py.module(ref.target, ref.src)
    if found is None and ref.target not in py.namespaces:
        return _loose_targets(py, ref)
    if not ref.props.get("from", bool(names)):
        return ([found] if found is not None else []), []
    targets, missing = [], []
    whole = not names  # ``from X import *``
    for name in names:
        sub = py.module(f"{ref.target}.{name}", ref.src)
        if sub is not None:
            targets.append(sub)
        elif f"{ref.target}.{name}" in py.namespaces:
            continue  # a namespace subpackage: imported, but with no module node to point at
        elif found is not None:
            whole = True
        else:
            missing.append(name)
    if whole and found is not None:
        targets.append(found)
    return targets, missing


def _loose_targets(py: _PythonIndex, ref: Ref) -> tuple[list[tuple[str, float]], list[str]] | None:
    """The same rules for loose files named with the folders above them; None when nothing
    matches, so the import stays external (a folder called ``airflow`` does not swallow
    ``from airflow import DAG``)."""
    names = ref.props.get("names", [])
    if not ref.props.get("from", bool(names)):
        found = py.loose_module(ref.target, ref.src)
        return ([found], []) if found is not None else None
    targets = []
    whole = not names
    for name in names:
        sub = py.loose_module(f"{ref.target}.{name}", ref.src)
        if sub is not None:
            targets.append(sub)
        else:
            whole = True
    found = py.any_module(ref.target, ref.src) if whole else None
    if found is not None:
        targets.append(found)
    return (targets, []) if targets else None


def _unresolved(py: _PythonIndex, ref: Ref, why: str, name: str | None = None,
                code: str = "unresolved_import") -> Diagnostic:
    """A warning at the import statement (the one importing ``name``, when given)."""
    names = [name] if name is not None else ref.props.get("names", [])
    form = (f"from {ref.target} import {', '.join(names) or '*'}" if ref.props.get("from", bool(names))
            else f"import {ref.target}")
    line = ref.props.get("lines", {}).get(name) or ref.props.get("line") or None
    return Diagnostic(path=py.module_path.get(ref.src, ""), analyzer="linker", severity="warning",
                      code=code, line=line, message=f"{form}: {why}; no edge drawn")


def _merge_import_names(out: LinkResult) -> None:
    """One imports edge per module pair, with the imported names of all statements behind it."""
    merged: dict[tuple[str, str], Edge] = {}
    rest = []
    for e in out.edges:
        if e.type != "imports":
            rest.append(e)
            continue
        prev = merged.get((e.src, e.dst))
        if prev is None:
            merged[(e.src, e.dst)] = e
        else:
            names = sorted(set(prev.props.get("names", [])) | set(e.props.get("names", [])))
            merged[(e.src, e.dst)] = prev.model_copy(
                update={"props": {"names": names}, "confidence": max(prev.confidence, e.confidence)})
    out.edges = rest + list(merged.values())


def unify_tables(nodes: list[Node], edges: list[Edge], ctx: RepoContext) -> tuple[list[Node], list[Edge]]:
    """Point partially-qualified table names at the one fully-qualified table they must mean.

    A DAG's ``insert into raw.orders`` and dbt's source ``jaffle_shop.raw.orders`` are the same
    relation when no other known table ends in ``raw.orders``; without this, the Airflow task and
    the dbt model would hang off two separate nodes. Ambiguous suffixes are left alone.
    """
    tables = {n.key for n in nodes if n.type == "sql.table"}
    by_suffix: dict[str, list[str]] = defaultdict(list)
    for fqn in tables:
        parts = fqn.split(".")
        for i in range(1, len(parts)):
            by_suffix[".".join(parts[i:])].append(fqn)
    rename: dict[str, str] = {}
    for fqn in tables:
        longer = by_suffix.get(fqn, [])
        if len(longer) == 1:
            rename[fqn] = longer[0]
    if not rename:
        return nodes, edges
    ids: dict[str, str] = {}
    out_nodes: list[Node] = []
    for n in nodes:
        if n.type == "sql.table" and n.key in rename:
            ids[n.id] = ctx.table_id(rename[n.key])
            continue
        if n.type == "sql.column" and n.props.get("table") in rename:
            target = rename[n.props["table"]]
            column = n.props["column"]
            new_id = ctx.column_id(target, column)
            ids[n.id] = new_id
            n = n.model_copy(update={"id": new_id, "key": f"{target}.{column}",
                                     "props": {**n.props, "table": target}})
        out_nodes.append(n)
    out_edges = [e.model_copy(update={"src": ids.get(e.src, e.src), "dst": ids.get(e.dst, e.dst)})
                 if e.src in ids or e.dst in ids else e for e in edges]
    return out_nodes, out_edges
