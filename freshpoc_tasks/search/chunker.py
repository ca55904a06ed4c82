"""Cut an analysed repository into search chunks, each tied to the graph node it describes.

A chunk's text starts with a header naming the node in words (type, split identifier, path,
docstring or description) and goes on with the node's own source lines when the repository's
files are at hand. The header is what lets a question that shares no identifier with the code
still land near it; the body is what BM25 matches exact names in. Without sources (only the
analysis artifact) chunks fall back to header-only text, so search degrades instead of failing.

Every chunk carries ``xid`` (the node's ``Node.id``, the join key back to Dgraph) and a content
hash over everything stored with it; the Weaviate object id is uuid5 of both and of the vector
space (embedding model and text length, :meth:`Chunk.object_id`), so an unchanged chunk keeps its
id (no re-embedding, no duplicate), a changed one gets a new id, and switching the model
re-embeds everything once instead of mixing vectors of two models.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from freshpoc_tasks.contracts.graph import GraphDelta, Node, node_id

# Fixed forever: changing it would give every stored chunk a new id.
CHUNK_NAMESPACE = uuid.UUID("2c7f3f7e-5d0a-4f8e-9b1e-9f3c0c6a4d21")
MAX_BODY_CHARS = 4000
SNIPPET_CHARS = 300

LANGUAGES = {".py": "python", ".pyi": "python", ".sql": "sql", ".yml": "yaml", ".yaml": "yaml",
             ".md": "markdown", ".markdown": "markdown", ".csv": "csv"}
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})

# What each node type is, in plain words: a question says "which check" or "which workflow",
# rarely "which dbt.test" or "which airflow.dag", so the type's meaning goes into the text.
LABELS = {
    "py.module": "Python module (source file)",
    "py.class": "Python class (record type, data structure or component)",
    "py.function": "Python function",
    "sql.statement": "SQL statement",
    "sql.table": "SQL table (warehouse relation)",
    "sql.column": "SQL column (field of a table)",
    "dbt.project": "dbt project (transformation project settings and variables)",
    "dbt.model": "dbt model (SQL transformation)",
    "dbt.source": "dbt source table (raw upstream data loaded by another system)",
    "dbt.seed": "dbt seed (CSV lookup file loaded into the warehouse)",
    "dbt.snapshot": "dbt snapshot (keeps the history of changing rows over time)",
    "dbt.macro": "dbt macro (reusable SQL helper)",
    "dbt.test": "dbt data test (data quality check)",
    "pulumi.project": "Pulumi project (infrastructure as code)",
    "pulumi.stack": "Pulumi stack (environment configuration)",
    "pulumi.resource": "Pulumi resource (cloud infrastructure)",
    "airflow.dag": "Airflow DAG (scheduled workflow, pipeline)",
    "airflow.task": "Airflow task (one step of a workflow)",
    "file": "document",
}
# Node types that never become chunks: shared external names, or nothing to say beyond the id.
DBT_FILE_NODES = frozenset({"dbt.model", "dbt.snapshot", "dbt.macro", "dbt.seed"})
YAML_SECTIONS = (("models", "dbt.model"), ("seeds", "dbt.seed"), ("snapshots", "dbt.snapshot"))
# Generic meaning of dbt's built-in tests, so "which check ensures ..." finds them.
TEST_WORDS = {"unique": "values are unique, no duplicates", "not_null": "value is always present, never null",
              "accepted_values": "only the listed values are allowed",
              "relationships": "every value refers to an existing row of another model (foreign key)"}
SKIPPED_TYPES = frozenset({"py.distribution", "repository", "folder", "commit", "person"})


@dataclass(frozen=True)
class Chunk:
    """One searchable piece of text and the graph node it stands for."""

    xid: str
    repo_id: str
    node_type: str
    language: str
    name: str
    path: str
    part: int
    text: str
    snippet: str
    content_hash: str = field(default="")

    def properties(self) -> dict[str, Any]:
        """What is stored in Weaviate, hashed, and returned by search."""
        return {"xid": self.xid, "repo_id": self.repo_id, "node_type": self.node_type,
                "language": self.language, "name": self.name, "path": self.path, "part": self.part,
                "text": self.text, "snippet": self.snippet, "content_hash": self.content_hash}

    @property
    def uuid(self) -> uuid.UUID:
        return chunk_uuid(self.xid, self.content_hash)

    def object_id(self, vector_space: str = "") -> uuid.UUID:
        """The stored object's id for vectors of ``vector_space`` (an ``Embedder.name``)."""
        return chunk_uuid(self.xid, self.content_hash, vector_space)


def chunk_uuid(xid: str, content_hash: str, vector_space: str = "") -> uuid.UUID:
    key = f"{xid}\n{content_hash}" + (f"\n{vector_space}" if vector_space else "")
    return uuid.uuid5(CHUNK_NAMESPACE, key)


def _hash(props: Mapping[str, Any]) -> str:
    body = json.dumps({k: v for k, v in props.items() if k != "content_hash"}, sort_keys=True,
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def make_chunk(*, xid: str, repo_id: str, node_type: str, language: str, name: str, path: str,
               text: str, snippet: str, part: int = 0) -> Chunk:
    """Build a chunk with its content hash (repo id included, so shared ids never collide)."""
    draft = Chunk(xid=xid, repo_id=repo_id, node_type=node_type, language=language, name=name, path=path,
                  part=part, text=text, snippet=snippet)
    return Chunk(**{**draft.properties(), "content_hash": _hash(draft.properties())})


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def words(identifier: str) -> str:
    """``PerishableItem.needs_restock`` -> ``perishable item needs restock``: names as prose."""
    parts = re.split(r"[^0-9A-Za-z]+", _CAMEL.sub(" ", identifier))
    return " ".join(p.lower() for p in parts if p)


@functools.lru_cache(maxsize=4096)  # asked once per node, with one path per file
def language_of(path: str | None, node_type: str) -> str:
    if path:
        lang = LANGUAGES.get(PurePosixPath(path).suffix.lower())
        if lang:
            return lang
    prefix = node_type.split(".", 1)[0]
    return {"py": "python", "sql": "sql", "dbt": "sql", "airflow": "python", "pulumi": "python"}.get(
        prefix, "text")


def _decode(data: str | bytes) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def _prop_text(value: Any) -> str:
    if value in (None, "", [], {}, "[]", "{}"):
        return ""
    return str(value).strip()


def _lines(lines: list[str], span: tuple[int, int]) -> str:
    """Lines ``span`` (1-based, inclusive) of a file already split into ``lines``."""
    start, end = max(span[0], 1), max(span[1], span[0])
    return "\n".join(lines[start - 1:end])


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


class _Context:
    """Facts gathered once from the whole delta that single nodes need for their text."""

    def __init__(self, delta: GraphDelta, sources: Mapping[str, str]) -> None:
        self.nodes = {n.id: n for n in delta.nodes}
        self.sources = sources
        self.children: dict[str, list[str]] = defaultdict(list)
        for e in delta.edges:
            if e.type in {"contains", "has_column", "has_task"} and e.dst in self.nodes:
                self.children[e.src].append(self.nodes[e.dst].name)
        # A module's docstring helps the DAG it declares (the DAG's own description is often empty).
        self.declared_by: dict[str, str] = {}
        for e in delta.edges:
            if e.type == "declares" and e.src in self.nodes:
                self.declared_by[e.dst] = _prop_text(self.nodes[e.src].props.get("docstring"))
        self.yaml_descriptions = _dbt_yaml_descriptions(delta, sources)
        # SQL files split into statements: each statement runs until the next one starts.
        starts: dict[str, list[int]] = defaultdict(list)
        for n in delta.nodes:
            if n.type == "sql.statement" and n.path and n.span and n.key.startswith(n.path + "#"):
                starts[n.path].append(n.span[0])
        self.statement_starts = {p: sorted(set(s)) for p, s in starts.items()}
        self._split: dict[str, list[str]] = {}

    def lines(self, path: str) -> list[str]:
        """A source file's lines, split once per file: a big file has hundreds of nodes, and
        splitting it again for each was most of chunking sqlalchemy (8 of 16 s)."""
        found = self._split.get(path)
        if found is None:
            found = self._split[path] = self.sources[path].splitlines()
        return found


def _dbt_yaml_descriptions(delta: GraphDelta, sources: Mapping[str, str]) -> dict[str, str]:
    """``description:`` of models, seeds and snapshots in schema YAML, by dbt node id.

    The analysis keeps source and column descriptions on their nodes; model descriptions live
    only in the YAML, so they are read here from the files under each dbt project's root.
    """
    found: dict[str, str] = {}
    for project in (n for n in delta.nodes if n.type == "dbt.project" and n.path):
        root = str(PurePosixPath(project.path).parent)
        prefix = "" if root == "." else root + "/"
        for path, text in sources.items():
            if not path.startswith(prefix) or LANGUAGES.get(PurePosixPath(path).suffix.lower()) != "yaml":
                continue
            try:
                doc = yaml.safe_load(text)
            except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
                continue  # e.g. a year-0 date: PyYAML's timestamp constructor raises ValueError
            if not isinstance(doc, dict):
                continue
            for section, kind in YAML_SECTIONS:
                entries = doc.get(section)
                for entry in entries if isinstance(entries, list) else []:
                    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                        continue
                    if entry.get("description"):
                        xid = node_id(kind, delta.repo_id, f"{project.key}.{entry['name']}")
                        found[xid] = str(entry["description"]).strip()
    return found


def _description(node: Node, ctx: _Context) -> str:
    parts = [_prop_text(node.props.get(k)) for k in ("docstring", "description")]
    parts.append(ctx.yaml_descriptions.get(node.id, ""))
    if node.type == "airflow.dag":
        parts.append(ctx.declared_by.get(node.id, ""))
    seen: list[str] = []
    for p in parts:
        if p and p not in seen:
            seen.append(p)
    return "\n".join(seen)


def _facts(node: Node) -> str:
    """Typed props worth reading as text (schedule, materialization, resource type ...)."""
    keys = {"py.function": ("signature", "decorators"), "py.class": ("bases", "decorators"),
            "dbt.model": ("materialized", "tags"), "dbt.seed": ("columns",),
            "dbt.snapshot": ("strategy", "unique_key"), "dbt.macro": ("arguments",),
            "dbt.test": ("test_name", "column", "kwargs"), "dbt.source": ("loader",),
            "airflow.dag": ("schedule", "tags"), "airflow.task": ("operator", "conn_id"),
            "pulumi.resource": ("type_token",), "pulumi.stack": ("config_keys",),
            "sql.column": ("table",), "sql.statement": ("kind",)}.get(node.type, ())
    out = [f"{k}: {_prop_text(node.props.get(k))}" for k in keys if _prop_text(node.props.get(k))]
    return "; ".join(out)


def _body(node: Node, ctx: _Context) -> str:
    path = node.path or ""
    text = ctx.sources.get(path) if path else None
    if text is None:
        return ""
    if node.type == "sql.statement":
        starts = ctx.statement_starts.get(path, [])
        if node.span is None or node.span[0] not in starts or not node.key.startswith(f"{path}#"):
            return ""
        i = starts.index(node.span[0])
        end = starts[i + 1] - 1 if i + 1 < len(starts) else len(ctx.lines(path))
        return _lines(ctx.lines(path), (node.span[0], end))
    if node.type == "py.module":
        return ""  # members have their own chunks; the module is its docstring and member list
    if node.type.startswith("dbt.") and node.type not in DBT_FILE_NODES:
        return ""  # YAML-declared nodes: the description is the content, not the whole schema file
    if node.type in {"pulumi.project", "pulumi.stack", "dbt.project"}:
        return ""
    if node.type == "dbt.seed":
        return "\n".join(ctx.lines(path)[:6])
    if node.span and node.span[1] > node.span[0] and not node.type.startswith("dbt."):
        return _lines(ctx.lines(path), node.span)
    if node.span and node.type in {"airflow.dag", "airflow.task", "pulumi.resource", "py.function",
                                   "py.class"}:
        return _lines(ctx.lines(path), node.span)
    return text


def node_chunk(node: Node, repo_id: str, ctx: _Context) -> Chunk | None:
    """The chunk of one node, or None when it has nothing to say beyond its id."""
    if node.type in SKIPPED_TYPES:
        return None
    description = _description(node, ctx)
    body = _clip(_body(node, ctx), MAX_BODY_CHARS)
    if node.type in {"sql.column", "dbt.source"} and not description:
        return None  # a bare column name is already in its table's chunk
    if node.type == "sql.statement" and not body:
        return None  # statements inside Python strings: their task's chunk holds the SQL
    label = LABELS.get(node.type, node.type)
    if node.type == "py.function" and node.props.get("kind") == "method":
        label = "Python method (function of a class)"
    header = [f"{label} {node.name} ({words(node.key)})"]
    if node.path:
        header.append(f"in {node.path}")
    facts = _facts(node)
    if facts:
        header.append(facts)
    if node.type == "dbt.test" and node.props.get("test_name") in TEST_WORDS:
        header.append(TEST_WORDS[str(node.props["test_name"])])
    members = ctx.children.get(node.id)
    if members:
        header.append("contains: " + ", ".join(sorted(set(members))))
    if description:
        header.append(description)
    text = "\n".join(header) + ("\n\n" + body if body else "")
    snippet = _clip(body or description or header[0], SNIPPET_CHARS)
    return make_chunk(xid=node.id, repo_id=repo_id, node_type=node.type,
                      language=language_of(node.path, node.type), name=node.name, path=node.path or "",
                      text=text, snippet=snippet)


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def markdown_sections(text: str) -> list[tuple[str, str]]:
    """``(heading, section text)`` per ATX heading; text before the first heading is ``""``.

    Fenced code blocks are skipped when looking for headings, so a ``# comment`` in a shell
    example does not start a section.
    """
    sections: list[tuple[str, list[str]]] = [("", [])]
    fence: str | None = None
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = None if fence == marker else (fence or marker)
        m = _HEADING.match(line) if fence is None else None
        if m:
            sections.append((m.group(2), [line]))
        else:
            sections[-1][1].append(line)
    return [(h, "\n".join(body).strip()) for h, body in sections if "\n".join(body).strip()]


def markdown_chunks(path: str, text: str, repo_id: str) -> list[Chunk]:
    """One chunk per section, tied to the document's ``file`` node (``part`` = section index)."""
    xid = node_id("file", repo_id, path)
    out = []
    for part, (heading, section) in enumerate(markdown_sections(text)):
        title = heading or PurePosixPath(path).name
        body = _clip(section, MAX_BODY_CHARS)
        out.append(make_chunk(xid=xid, repo_id=repo_id, node_type="file", language="markdown",
                              name=title, path=path, part=part,
                              text=f"document section {title} in {path}\n\n{body}",
                              snippet=_clip(section, SNIPPET_CHARS)))
    return out


def chunk_delta(delta: GraphDelta, sources: Mapping[str, str | bytes] | None = None) -> list[Chunk]:
    """All chunks of one analysed repository, sorted by (xid, part) so output is stable.

    ``sources`` maps repo-relative paths to file contents at the same commit; Markdown files in
    it become section chunks. Nodes whose file is missing get header-only chunks.
    """
    texts = {p: _decode(t) for p, t in (sources or {}).items()}
    ctx = _Context(delta, texts)
    chunks: dict[tuple[str, int], Chunk] = {}
    for node in delta.nodes:
        chunk = node_chunk(node, delta.repo_id, ctx)
        if chunk is not None:
            chunks.setdefault((chunk.xid, chunk.part), chunk)
    for path in sorted(texts):
        if PurePosixPath(path).suffix.lower() in MARKDOWN_SUFFIXES:
            for chunk in markdown_chunks(path, texts[path], delta.repo_id):
                chunks.setdefault((chunk.xid, chunk.part), chunk)
    return [chunks[k] for k in sorted(chunks)]


def iter_texts(chunks: Iterable[Chunk]) -> list[str]:
    return [c.text for c in chunks]
