"""Python analyzer: golden graph of the example package, and the resolution rules one by one."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from conftest import analyse_texts, edge_set, node_set

from freshpoc_tasks.analysis.model import SourceFile
from freshpoc_tasks.analysis.python import path_parts

P = "py.function:inventory."
C = "py.class:inventory."
M = "py.module:inventory"


def test_example_package_nodes(example):
    delta = example("py_inventory")
    assert node_set(delta) == {
        M, f"{M}.cli", f"{M}.core", f"{M}.db",
        f"{C}cli.Reporter", f"{C}core.Item", f"{C}core.PerishableItem",
        f"{P}cli.Reporter.__init__", f"{P}cli.Reporter._line", f"{P}cli.Reporter.emit",
        f"{P}cli.build_parser", f"{P}cli.main", f"{P}core.Item.needs_restock",
        f"{P}core.PerishableItem.needs_restock", f"{P}core.restock_plan", f"{P}db.load_items",
        "py.distribution:pypi:pandas", "py.distribution:pypi:python-stdlib",
        "py.distribution:pypi:sqlalchemy", "sql.table:default:analytics.stock_levels",
    }
    assert delta.diagnostics == [] and delta.proposed == []


def test_example_package_calls_imports_and_tables(example):
    delta = example("py_inventory")
    assert edge_set(delta, "calls", "imports", "inherits", "references") == {
        ("calls", f"{P}cli.Reporter.emit", f"{P}cli.Reporter._line"),
        ("calls", f"{P}cli.main", f"{C}cli.Reporter"),
        ("calls", f"{P}cli.main", f"{P}cli.build_parser"),
        ("calls", f"{P}cli.main", f"{P}core.restock_plan"),
        ("calls", f"{P}cli.main", f"{P}db.load_items"),
        ("calls", f"{P}db.load_items", f"{C}core.Item"),
        ("calls", f"{M}.cli", f"{P}cli.main"),
        ("imports", M, f"{M}.core"),
        ("imports", f"{M}.cli", "py.distribution:pypi:python-stdlib"),
        ("imports", f"{M}.cli", f"{M}.core"),
        ("imports", f"{M}.cli", f"{M}.db"),
        ("imports", f"{M}.core", "py.distribution:pypi:python-stdlib"),
        ("imports", f"{M}.db", "py.distribution:pypi:pandas"),
        ("imports", f"{M}.db", "py.distribution:pypi:sqlalchemy"),
        ("imports", f"{M}.db", f"{M}.core"),
        ("inherits", f"{C}core.PerishableItem", f"{C}core.Item"),
        ("references", f"{P}db.load_items", "sql.table:default:analytics.stock_levels"),
    }
    conf = {(e.src.rpartition(":")[2], e.dst.rpartition(":")[2]): e.confidence
            for e in delta.edges if e.type == "calls"}
    assert conf[("inventory.cli.main", "inventory.cli.build_parser")] == 1.0
    assert conf[("inventory.cli.main", "inventory.db.load_items")] == 0.9
    assert conf[("inventory.cli.Reporter.emit", "inventory.cli.Reporter._line")] == 0.8
    stdlib = next(e for e in delta.edges if e.type == "imports" and e.dst.endswith("python-stdlib")
                  and e.src.endswith("inventory.cli"))
    assert stdlib.props["names"] == []


def test_example_package_function_fields(example):
    delta = example("py_inventory")
    nodes = {n.key: n for n in delta.nodes}
    plan = nodes["inventory.core.restock_plan"]
    assert plan.props == {
        "qualname": "restock_plan", "kind": "function", "signature": "(items: list[Item], minimum: int=...)",
        "decorators": [], "docstring": "SKUs to reorder, most urgent first.", "complexity": 5,
        "is_async": False,
    }
    assert plan.span == (31, 35)
    assert nodes["inventory.core.PerishableItem.needs_restock"].props["complexity"] == 3
    assert nodes["inventory.core.Item"].props["decorators"] == ["dataclass"]
    assert nodes["inventory"].props["is_package"] is True
    assert nodes["inventory.core.PerishableItem"].props["bases"] == ["Item"]


def test_every_node_is_defined_in_its_file(example):
    delta = example("py_inventory")
    defined = {src for (t, src, _dst) in edge_set(delta, "defined_in")}
    assert defined == node_set(delta, "py.module", "py.class", "py.function")


def test_relative_imports_reexports_and_inherited_self_calls():
    delta = analyse_texts({
        "pkg/__init__.py": "from .impl import helper as public_helper\n",
        "pkg/impl.py": "def helper():\n    return 1\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/user.py": (
            "from .. import public_helper\nfrom ..base import Base\n"
            "class Child(Base):\n    def run(self):\n        self.setup()\n        return public_helper()\n"
        ),
        "pkg/base.py": "class Base:\n    def setup(self):\n        pass\n",
    })
    assert edge_set(delta, "calls", "inherits") == {
        ("calls", "py.function:pkg.sub.user.Child.run", "py.function:pkg.base.Base.setup"),
        ("calls", "py.function:pkg.sub.user.Child.run", "py.function:pkg.impl.helper"),
        ("inherits", "py.class:pkg.sub.user.Child", "py.class:pkg.base.Base"),
    }
    assert ("imports", "py.module:pkg.sub.user", "py.module:pkg") in edge_set(delta, "imports")


def test_loose_scripts_get_path_keys_and_resolve_siblings():
    delta = analyse_texts({
        "dags/helpers.py": "def clean():\n    pass\n",
        "dags/etl.py": "from helpers import clean\nclean()\n",
        "tools/helpers.py": "def clean():\n    pass\n",
    })
    assert ("calls", "py.module:dags.etl", "py.function:dags.helpers.clean") in edge_set(delta, "calls")
    assert ("imports", "py.module:dags.etl", "py.module:dags.helpers") in edge_set(delta, "imports")


def test_syntax_error_is_recorded_and_other_files_go_on():
    delta = analyse_texts({"bad.py": "def f(:\n", "good.py": "def g():\n    pass\n"})
    assert node_set(delta) == {"py.module:good", "py.function:good.g"}
    assert [(d.path, d.code, d.line) for d in delta.diagnostics] == [("bad.py", "syntax_error", 1)]


@pytest.mark.parametrize("path", ["a.py", "pkg/mod.py", "pkg/__init__.pyi", ".py", "pkg/.py", "pkg/b.",
                                  "pkg/b..py", "bin/tool", "d.d/x", "a/b.c.d", "a/B.PY", ".hidden/x.py"])
def test_path_parts_and_suffix_mean_what_pathlib_says(path):
    """The string forms used on every file (module names, the accept pass) agree with pathlib."""
    assert path_parts(path) == PurePosixPath(path).with_suffix("").parts
    f = SourceFile.from_text(path, "")
    assert (f.suffix, f.name) == (PurePosixPath(path).suffix.lower(), PurePosixPath(path).name)
