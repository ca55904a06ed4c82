"""Deterministic synthetic deltas of any size, for the crash drill and the write benchmark.

Shaped like a real repository's merged delta (tree, modules, functions, calls, imports, a
shared distribution), so batch sizes and throughput measured on it carry over.
"""

from __future__ import annotations

from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node, node_id


def synthetic_delta(repo_id: str, commit: str, files: int = 100, functions_per_file: int = 10,
                    variant: int = 0) -> GraphDelta:
    """``variant`` changes every 7th function's docstring, to make a "next commit"."""
    nodes: list[Node] = []
    edges: list[Edge] = []

    def add(t: str, key: str, name: str, at: str | None = None, **props: object) -> str:
        nid = node_id(t, repo_id, key)
        nodes.append(Node(id=nid, type=t, scope=repo_id, key=key, name=name, path=at, props=dict(props)))
        return nid

    root = add("repository", repo_id, repo_id, url=f"https://example.com/{repo_id}")
    dist = node_id("py.distribution", "pypi", "requests")
    nodes.append(Node(id=dist, type="py.distribution", scope="pypi", key="requests", name="requests",
                      props={"import_name": "requests", "stdlib": False}))
    folders = {}
    for i in range(files):
        pkg = f"pkg{i % 10}"
        if pkg not in folders:
            folders[pkg] = add("folder", pkg, pkg, pkg, path=pkg)
            edges.append(Edge(type="contains", src=root, dst=folders[pkg]))
        path = f"{pkg}/mod{i}.py"
        fid = add("file", path, f"mod{i}.py", path, path=path, language="python", size=100 + i,
                  lines_code=10 + i)
        edges.append(Edge(type="contains", src=folders[pkg], dst=fid))
        mod = add("py.module", f"{pkg}.mod{i}", f"mod{i}", path, qualname=f"{pkg}.mod{i}", lines=10 + i,
                  docstring=f'Module {i}: "quoted" {{braces}} $dollar\nsecond line')
        edges.append(Edge(type="defined_in", src=mod, dst=fid))
        edges.append(Edge(type="imports", src=mod, dst=dist, props={"names": ["get", "post"]}))
        prev = None
        for j in range(functions_per_file):
            doc = f"Function {j} of module {i}."
            if variant and (i * functions_per_file + j) % 7 == 0:
                doc += f" (v{variant})"
            fn = add("py.function", f"{pkg}.mod{i}.f{j}", f"f{j}", path, qualname=f"{pkg}.mod{i}.f{j}",
                     kind="function", signature=f"f{j}(x, y=1)", docstring=doc, complexity=j % 5 + 1,
                     is_async=False, decorators=["staticmethod"] if j % 3 == 0 else [])
            edges.append(Edge(type="contains", src=mod, dst=fn))
            edges.append(Edge(type="defined_in", src=fn, dst=fid))
            if prev is not None:
                edges.append(Edge(type="calls", src=fn, dst=prev, confidence=0.9))
            prev = fn
    return GraphDelta(repo_id=repo_id, commit=commit, ontology_version="0.2.0", analyzers={"synthetic": "1"},
                      nodes=nodes, edges=edges)
