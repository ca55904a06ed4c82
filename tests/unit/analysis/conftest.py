"""Helpers shared by the analysis tests: load an example project as SourceFiles and run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.model import AnalysisConfig, SourceFile
from freshpoc_tasks.contracts.graph import GraphDelta

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = REPO_ROOT / "include" / "examples"


def load_example(name: str) -> list[SourceFile]:
    root = EXAMPLES / name
    return [
        SourceFile.from_text(p.relative_to(root).as_posix(), p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and "target" not in p.relative_to(root).parts and p.suffix != ".pyc"
    ]


def analyse_example(name: str, **config: object) -> GraphDelta:
    return analyse_repository(load_example(name), f"local/{name}", config=AnalysisConfig(**config))


def analyse_texts(files: dict[str, str | bytes], repo_id: str = "local/t", **config: object) -> GraphDelta:
    return analyse_repository([SourceFile.from_text(p, t) for p, t in files.items()], repo_id,
                              config=AnalysisConfig(**config))


def edge_set(delta: GraphDelta, *types: str) -> set[tuple[str, str, str]]:
    """Edges as (type, src, dst) with the repo scope cut out, for readable expected sets."""
    scope = delta.repo_id + ":"
    return {
        (e.type, e.src.replace(scope, ""), e.dst.replace(scope, ""))
        for e in delta.edges
        if not types or e.type in types
    }


def node_set(delta: GraphDelta, *types: str) -> set[str]:
    scope = delta.repo_id + ":"
    return {n.id.replace(scope, "") for n in delta.nodes if not types or n.type in types}


@pytest.fixture(scope="session")
def example():
    cache: dict[str, GraphDelta] = {}

    def get(name: str, **config: object) -> GraphDelta:
        key = name + repr(sorted(config.items()))
        if key not in cache:
            cache[key] = analyse_example(name, **config)
        return cache[key]

    return get
