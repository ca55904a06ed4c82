"""Every import form at once, checked against grimp itself and against edges written down here.

grimp runs in its own cached venv (built on first use, like dbt's), through the same functions
``benchmarks/accuracy_python.py`` uses, so the benchmark's oracle is tested too.
"""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from accuracy_python import compare, run_ours

FILES = {
    "__init__.py": ("from . import sub\nfrom .sub import inner\nfrom pk.sub.inner import thing as t\n"
                    "sub_name = 1\n"),
    "a.py": (
        "import pk\nimport pk.sub\nimport pk.sub.inner.leaf as leaf\n"
        "from pk import sub_name, b\nfrom . import c, sub_name as s2\n"
        "from .sub.inner.leaf import X\nfrom .ns.deep.mod import Y\nfrom .ns import deep\n"
        "from pk.ns.deep import mod as m2\nfrom .missing import Z\nfrom pk.sub import *\n"
        "def f():\n    import pk.b\n    from .c import q\n"
        "class K:\n    from . import d\n"
        "    try:\n        import pk.e\n    except ImportError:\n        pass\n"
        "with open('x') as fh:\n    from . import e\n"
    ),
    **{f"{m}.py": "from . import a\n" for m in "bcde"},
    "sub/__init__.py": "from .. import a\n",
    "sub/inner/__init__.py": "from ..inner import leaf\n",
    "sub/inner/leaf.py": "from ... import a as aa, b\n",
    "ns/deep/mod.py": "from ... import c\nfrom ..deep import mod\nimport pk.ns.top\n",
    "ns/top.py": ("from pk.ns.deep.mod import Y\nfrom typing import TYPE_CHECKING\n"
                  "if TYPE_CHECKING:\n    import pk.d\n"),
}

EXPECTED = {
    ("pk", "pk.sub"), ("pk", "pk.sub.inner"),
    ("pk.a", "pk"), ("pk.a", "pk.sub"), ("pk.a", "pk.sub.inner.leaf"), ("pk.a", "pk.b"), ("pk.a", "pk.c"),
    ("pk.a", "pk.ns.deep.mod"), ("pk.a", "pk.d"), ("pk.a", "pk.e"),
    *{(f"pk.{m}", "pk.a") for m in "bcde"},
    ("pk.sub", "pk.a"), ("pk.sub.inner", "pk.sub.inner.leaf"),
    ("pk.sub.inner.leaf", "pk.a"), ("pk.sub.inner.leaf", "pk.b"),
    ("pk.ns.deep.mod", "pk.c"), ("pk.ns.deep.mod", "pk.ns.top"),
    ("pk.ns.top", "pk.ns.deep.mod"), ("pk.ns.top", "pk.d"),
}


def write_package(root: Path) -> Path:
    """The package under ``src/``; with no ``.git`` above it, paths start at the package."""
    package = root / "src" / "pk"
    for rel, text in FILES.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_import_edges_are_exactly_the_expected_ones(tmp_path):
    _modules, edges, diags = run_ours(write_package(tmp_path))
    assert {(a, b) for a, b in edges if a != b} == EXPECTED
    assert [(d.path, d.line, d.code) for d in diags] == [("pk/a.py", 10, "unresolved_import")]


def test_grimp_draws_the_same_edges(tmp_path):
    report = compare(write_package(tmp_path), examples=20)
    # pk.ns and pk.ns.deep are namespace folders, modules only in grimp's copy (`from .ns import
    # deep` imports one); plain grimp leaves the whole ns folder out.
    assert report["modules"]["namespace_folders"] == ["pk.ns", "pk.ns.deep"]
    assert report["modules"]["edges_to_namespace_folders"] == 1
    assert report["modules"]["grimp_plain"] == 9
    for comparison in ("full", "grimp-modules"):
        scores = (report[comparison]["precision"], report[comparison]["recall"])
        assert scores == (1.0, 1.0), report["classes"]
    assert report["full"]["tp"] == len(EXPECTED)
