"""YAML loading that refuses documents which are small on disk and huge (or endless) in memory.

``yaml.safe_load`` runs no code, but it happily builds "billion laughs" (nine levels of anchors
that each alias the previous level ten times: a 1 KB file, 10^9 nodes once anything walks it),
recursive structures from a self-referencing anchor (``a: &a [*a]``, which no JSON writer can
finish), ``bytes`` from ``!!binary`` (which JSON cannot hold) and a ``RecursionError`` from a
5,000-deep document. Here a first pass over the parser's events (libyaml's when available)
measures the document as it would be once aliases are expanded, and refuses it before anything
is built if it passes a budget; the loader then builds plain values only: tags outside YAML's
core schema (``!!binary``, ``!!set``, ``!Ref``, ``!!python/...``) are read as the plain string,
list or mapping they are written as.

Refusals are ``YamlRefused``, a ``yaml.YAMLError`` with a ``code``, so code that already catches
``yaml.YAMLError`` records them as it records any malformed file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

try:
    from yaml.cyaml import CParser as _Parser

    LIBYAML = True
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: Any) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)

    LIBYAML = False

CORE_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq",
                                                           "map", "timestamp", "merge"))


@dataclass(frozen=True)
class YamlLimits:
    max_depth: int = 100  # nesting of sequences and mappings
    max_aliases: int = 1_000  # alias uses (``*name``) in one document
    max_alias_nodes: int = 10_000  # nodes aliases add once expanded
    max_nodes: int = 2_000_000  # nodes in the document once expanded


class YamlRefused(yaml.YAMLError):
    """The document was refused before loading; ``code`` names the limit."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Constructor(SafeConstructor):
    """SafeConstructor whose unknown or non-core tags yield the plain value as written."""

    def construct_plain(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return self.construct_sequence(node)
        return self.construct_mapping(node)  # type: ignore[arg-type]


for _tag in ("tag:yaml.org,2002:binary", "tag:yaml.org,2002:set", "tag:yaml.org,2002:omap",
             "tag:yaml.org,2002:pairs"):
    _Constructor.add_constructor(_tag, _Constructor.construct_plain)
_Constructor.add_constructor(None, _Constructor.construct_plain)  # type: ignore[arg-type]
_Constructor.add_multi_constructor("", lambda loader, _suffix, node: loader.construct_plain(node))


class _EventLoader(_Parser):  # type: ignore[misc, valid-type]
    """Only the parser: the measuring pass reads events, builds nothing."""


class SafeLoader(_Parser, _Constructor, Resolver):  # type: ignore[misc, valid-type]
    """The loader of the second pass (use :func:`safe_load`, which measures first)."""

    def __init__(self, stream: Any) -> None:
        _Parser.__init__(self, stream)
        _Constructor.__init__(self)
        Resolver.__init__(self)


def measure(text: str | bytes, limits: YamlLimits | None = None) -> int:
    """Nodes the document holds once aliases are expanded; raises ``YamlRefused`` as soon as a
    limit is passed. Linear in the size of the text whatever the aliases."""
    limits = limits or YamlLimits()
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node
    open_anchors: set[str] = set()
    stack: list[list[Any]] = []  # per open collection: [expanded size so far, its anchor]
    total = aliases = alias_nodes = 0

    def add(n: int) -> None:
        nonlocal total
        if stack:
            stack[-1][0] += n
        else:
            total += n
            if total > limits.max_nodes:
                raise YamlRefused("yaml_too_large", f"more than {limits.max_nodes} nodes once expanded")

    loader = _EventLoader(text)
    documents = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentStartEvent):
                # The loader takes one document and fails at the second: so does this pass,
                # instead of reading 100,000 more first (same first line as PyYAML's error).
                documents += 1
                if documents > 1:
                    raise YamlRefused("yaml_error", "expected a single document in the stream")
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > limits.max_aliases:
                    raise YamlRefused("yaml_alias_budget", f"more than {limits.max_aliases} aliases")
                if event.anchor in open_anchors:
                    raise YamlRefused("yaml_recursive_alias",
                                      f"anchor &{event.anchor} refers to itself (a cyclic structure)")
                size = sizes.get(event.anchor, 1)
                alias_nodes += size
                if alias_nodes > limits.max_alias_nodes:
                    raise YamlRefused("yaml_alias_budget",
                                      f"aliases expand to more than {limits.max_alias_nodes} nodes")
                add(size)
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor:
                    sizes[event.anchor] = 1
                add(1)
            elif isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= limits.max_depth:
                    raise YamlRefused("yaml_too_deep", f"nesting deeper than {limits.max_depth} levels")
                if event.anchor:
                    open_anchors.add(event.anchor)
                stack.append([1, event.anchor])
            elif isinstance(event, yaml.CollectionEndEvent):
                size, anchor = stack.pop()
                if anchor:
                    open_anchors.discard(anchor)
                    sizes[anchor] = size
                add(size)
                if size > limits.max_nodes:
                    raise YamlRefused("yaml_too_large", f"more than {limits.max_nodes} nodes once expanded")
    finally:
        loader.dispose()
    return total


def safe_load(text: str | bytes | None, limits: YamlLimits | None = None) -> Any:
    """``yaml.safe_load`` for untrusted text: measured first (see :func:`measure`), then built
    from plain values only. Raises ``yaml.YAMLError`` (``YamlRefused`` for a refusal)."""
    if text is None:
        return None
    measure(text, limits)
    loader = SafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def safe_load_or_none(text: str | bytes | None, limits: YamlLimits | None = None) -> Any:
    """For optional context files (``dbt_project.yml`` read while analysing a model): a file
    that is malformed or refused reads as absent; the file's own analysis reports why."""
    if not text:
        return None
    try:
        return safe_load(text, limits)
    except (yaml.YAMLError, RecursionError, ValueError):
        return None


def refusal_code(exc: BaseException) -> str:
    """The diagnostic code for a loading failure: the refusal's own, else ``yaml_error``."""
    return exc.code if isinstance(exc, YamlRefused) else "yaml_error"
