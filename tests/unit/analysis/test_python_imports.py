"""Module import edges, one fixture per failure class found against grimp on real packages.

Each test writes a tiny package and states the exact ``imports`` edges between repository
modules (and the diagnostics) Python's import semantics give, which is what grimp draws too
(``benchmarks/accuracy_python.py`` checks that on flask, sqlalchemy, pip and others).
"""

from __future__ import annotations

from conftest import analyse_texts, edge_set, node_set

M = "py.module:"


def module_imports(delta) -> set[tuple[str, str]]:
    """Edges between repository modules, as (importer, imported) qualnames."""
    return {(s[len(M):], d[len(M):]) for t, s, d in edge_set(delta, "imports") if d.startswith(M)}


def diagnostics(delta) -> list[tuple[str, str, int | None, str]]:
    return [(d.path, d.code, d.line, d.message) for d in delta.diagnostics]


def test_namespace_folder_inside_a_package_gets_dotted_names():
    # flask's shape: src/flask/sansio/ has no __init__.py but is imported as flask.sansio.
    delta = analyse_texts({
        "src/pkg/__init__.py": "",
        "src/pkg/app.py": "from .sansio.app import App\nfrom .helpers import util\n",
        "src/pkg/helpers.py": "def util():\n    pass\n",
        "src/pkg/sansio/README.md": "not python",
        "src/pkg/sansio/app.py": ("from ..helpers import util\nfrom .scaffold import Scaffold\n"
                                  "class App(Scaffold):\n    pass\n"),
        "src/pkg/sansio/scaffold.py": "from .. import helpers\nclass Scaffold:\n    pass\n",
    })
    assert node_set(delta, "py.module") == {f"{M}pkg", f"{M}pkg.app", f"{M}pkg.helpers", f"{M}pkg.sansio.app",
                                            f"{M}pkg.sansio.scaffold"}
    assert module_imports(delta) == {
        ("pkg.app", "pkg.sansio.app"), ("pkg.app", "pkg.helpers"),
        ("pkg.sansio.app", "pkg.helpers"), ("pkg.sansio.app", "pkg.sansio.scaffold"),
        ("pkg.sansio.scaffold", "pkg.helpers"),
    }
    assert ("inherits", "py.class:pkg.sansio.app.App", "py.class:pkg.sansio.scaffold.Scaffold") in \
        edge_set(delta, "inherits")
    assert delta.diagnostics == []


def test_package_below_a_namespace_folder_keeps_the_full_dotted_name():
    delta = analyse_texts({
        "a/__init__.py": "",
        "a/b/c/__init__.py": "from . import d\n",
        "a/b/c/d.py": "from ...top import x\n",
        "a/top.py": "x = 1\n",
        "a/b/not-an-identifier/e.py": "import a.top\n",
    })
    assert node_set(delta, "py.module") == {f"{M}a", f"{M}a.b.c", f"{M}a.b.c.d", f"{M}a.top",
                                            f"{M}a.b.not-an-identifier.e"}
    # the non-identifier folder cannot be imported: its file stays a loose script, keyed by path
    assert module_imports(delta) == {("a.b.c", "a.b.c.d"), ("a.b.c.d", "a.top"),
                                     ("a.b.not-an-identifier.e", "a.top")}


def test_ordinary_package_and_loose_script_ids_do_not_change():
    delta = analyse_texts({
        "pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/mod.py": "import pkg\n",
        "scripts/tool.py": "import pkg.sub.mod\n", "setup.py": "",
    })
    assert node_set(delta, "py.module") == {f"{M}pkg", f"{M}pkg.sub", f"{M}pkg.sub.mod", f"{M}scripts.tool",
                                            f"{M}setup"}
    assert module_imports(delta) == {("pkg.sub.mod", "pkg"), ("scripts.tool", "pkg.sub.mod")}


def test_unresolvable_import_is_a_diagnostic_never_an_edge_to_the_parent_package():
    # pip's vendored pygments imports .cmdline, which pip strips: that is no edge to pygments.
    delta = analyse_texts({
        "pkg/__init__.py": "",
        "pkg/user.py": "from pkg.gone import thing\nimport pkg.also_gone\nfrom .vanished.deep import x\n",
    })
    assert module_imports(delta) == set()
    why = "in the repository (generated, optional or removed?); no edge drawn"
    assert diagnostics(delta) == [
        ("pkg/user.py", "unresolved_import", 1, f"from pkg.gone import thing: no module pkg.gone {why}"),
        ("pkg/user.py", "unresolved_import", 2, f"import pkg.also_gone: no module pkg.also_gone {why}"),
        ("pkg/user.py", "unresolved_import", 3,
         f"from pkg.vanished.deep import x: no module pkg.vanished.deep {why}"),
    ]
    assert [d.severity for d in delta.diagnostics] == ["warning"] * 3


def test_from_import_names_a_submodule_or_a_name_of_the_package():
    delta = analyse_texts({
        "pkg/__init__.py": "from . import name_here, sub\nname_here = 1\n",
        "pkg/sub.py": "from . import name_here\n",
        "pkg/both.py": "from pkg import sub, name_here\n",
        "pkg/star.py": "from pkg.sub import *\n",
        "pkg/attr.py": "from pkg.sub import something\n",
    })
    assert module_imports(delta) == {
        ("pkg", "pkg.sub"),  # `from . import name_here` in pkg itself is no self-edge
        ("pkg.sub", "pkg"),
        ("pkg.both", "pkg.sub"), ("pkg.both", "pkg"),
        ("pkg.star", "pkg.sub"),
        ("pkg.attr", "pkg.sub"),
    }
    assert delta.diagnostics == []


def test_plain_import_and_from_import_of_the_same_package_both_count():
    # sqlalchemy.testing.entities: `import sqlalchemy as sa` next to `from .. import exc`.
    delta = analyse_texts({
        "pkg/__init__.py": "",
        "pkg/exc.py": "",
        "pkg/testing/__init__.py": "",
        "pkg/testing/entities.py": "import pkg as sa\nfrom .. import exc as sa_exc\n",
    })
    assert module_imports(delta) == {("pkg.testing.entities", "pkg"), ("pkg.testing.entities", "pkg.exc")}


def test_imports_in_functions_class_bodies_type_checking_and_try_blocks_count():
    delta = analyse_texts({
        "pkg/__init__.py": "",
        **{f"pkg/m{i}.py": "" for i in range(6)},
        "pkg/user.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .m0 import T\n"
            "try:\n    from . import m1\nexcept ImportError:\n    m1 = None\n"
            "def f():\n    from .m2 import g\n    def inner():\n        import pkg.m3\n"
            "class K:\n    from .m4 import attr\n    if True:\n        from . import m5\n"
        ),
    })
    assert module_imports(delta) == {("pkg.user", f"pkg.m{i}") for i in range(6)}


def test_relative_import_above_the_top_level_package_is_a_diagnostic():
    delta = analyse_texts({
        "pkg/__init__.py": "",
        "pkg/mod.py": "from .. import elsewhere\nfrom ...x import y\n",
        "elsewhere.py": "", "x.py": "",
        "scripts/run.py": "from . import x\n",
    })
    assert module_imports(delta) == set()
    assert [(p, c, line) for p, c, line, _ in diagnostics(delta)] == [
        ("pkg/mod.py", "unresolved_import", 1), ("pkg/mod.py", "unresolved_import", 2),
        ("scripts/run.py", "unresolved_import", 1)]
    assert diagnostics(delta)[0][3] == "relative import .. goes above the top-level package of pkg.mod"
    assert diagnostics(delta)[2][3] == "relative import . in a file outside any package"


def test_namespace_folder_has_submodules_but_no_names():
    delta = analyse_texts({
        "pkg/__init__.py": "",
        "pkg/ns/leaf.py": "",
        "pkg/ns/deep/mod.py": "",
        "pkg/user.py": ("from pkg.ns import leaf\nimport pkg.ns\nfrom .ns import not_a_module\n"
                        "from .ns import deep\nfrom pkg import ns\n"),
    })
    # importing a namespace package itself is fine but there is no module node to point at
    assert module_imports(delta) == {("pkg.user", "pkg.ns.leaf")}
    assert [(line, msg) for _, _, line, msg in diagnostics(delta)] == [
        (3, "from pkg.ns import not_a_module: pkg.ns.not_a_module is not a module of the namespace package "
            "pkg.ns; no edge drawn")]


def test_imports_outside_the_repository_go_to_distributions():
    delta = analyse_texts({
        "pkg/__init__.py": "",
        "pkg/mod.py": ("import os.path\nfrom werkzeug.local import LocalProxy\nimport yaml\n"
                       "from _pytest.fixtures import fixture\nfrom _typeshed import StrPath\n"
                       "try:\n    import urllib2\nexcept ImportError:\n    import urllib.request\n"),
    })
    assert edge_set(delta, "imports") == {
        ("imports", f"{M}pkg.mod", "py.distribution:pypi:python-stdlib"),
        ("imports", f"{M}pkg.mod", "py.distribution:pypi:werkzeug"),
        ("imports", f"{M}pkg.mod", "py.distribution:pypi:pyyaml"),
        ("imports", f"{M}pkg.mod", "py.distribution:pypi:pytest"),
    }
    assert delta.diagnostics == []


def test_a_module_and_its_stub_are_one_unambiguous_target():
    delta = analyse_texts({
        "pkg/__init__.py": "",
        "pkg/fast.py": "def f():\n    pass\n",
        "pkg/fast.pyi": "def f() -> None: ...\n",
        "pkg/user.py": "from pkg import fast\n",
    })
    edges = [e for e in delta.edges if e.type == "imports"]
    assert [(e.src, e.dst, e.confidence) for e in edges] == [
        ("py.module:local/t:pkg.user", "py.module:local/t:pkg.fast", 1.0)]


def test_loose_folders_resolve_from_the_folder_on_sys_path():
    # Airflow puts the DAG folder on sys.path: dags/common/utils.py is `common.utils` there,
    # with no __init__.py anywhere. Before, that import became a distribution called "common".
    delta = analyse_texts({
        "dags/common/utils.py": "def clean():\n    pass\n",
        "dags/etl.py": "from common.utils import clean\nfrom common import utils\nclean()\n",
        "dags/team/job.py": "import common.utils\n",
        "airflow/plugins/operators.py": "",
        "airflow/dags/load.py": "from airflow import DAG\nfrom airflow.operators.bash import BashOperator\n",
        "other/common/utils.py": "",
    })
    assert module_imports(delta) == {("dags.etl", "dags.common.utils"),
                                     ("dags.team.job", "dags.common.utils")}
    assert ("calls", "py.module:dags.etl", "py.function:dags.common.utils.clean") in edge_set(delta, "calls")
    # a repository folder named airflow does not swallow the real package's imports
    assert ("imports", "py.module:airflow.dags.load", "py.distribution:pypi:apache-airflow") in \
        edge_set(delta, "imports")
    assert not [n for n in delta.nodes if n.type == "py.distribution" and n.key == "common"]
    conf = {(e.src, e.dst): e.confidence for e in delta.edges if e.type == "imports"}
    assert conf[("py.module:local/t:dags.etl", "py.module:local/t:dags.common.utils")] == 1.0


def test_same_named_loose_files_resolve_as_sys_path_would_or_not_at_all():
    delta = analyse_texts({
        "dags/utils.py": "", "dags/team/utils.py": "",
        "dags/team/job.py": "import utils\n",  # sys.path[0] is the script's folder: nearest wins
        "a/helpers.py": "", "b/helpers.py": "",
        "tools/x.py": "import helpers\n",  # neither folder holds tools/x.py: no arbitrary pick
        "lib/libutil.py": "",
        "scripts/run.py": "import libutil\n",  # only candidate, but not on the importer's path
    })
    conf = {(s[len(M):], d[len(M):]): c for s, d, c in (
        (e.src.replace("local/t:", ""), e.dst.replace("local/t:", ""), e.confidence)
        for e in delta.edges if e.type == "imports")}
    assert conf == {("dags.team.job", "dags.team.utils"): 1.0, ("scripts.run", "lib.libutil"): 0.5}
    assert [(p, c, line) for p, c, line, _ in diagnostics(delta)] == [("tools/x.py", "ambiguous_import", 1)]
    assert diagnostics(delta)[0][3] == ("import helpers: 2 files answer to helpers (a/helpers.py, "
                                        "b/helpers.py), none in a folder the importer sees; no edge drawn")


def test_files_in_namespace_folders_keep_the_names_pytest_and_scripts_use():
    # tests/ is a package but tests/unit/analysis/ has no __init__.py: pytest puts that folder on
    # sys.path, so `from conftest import ...` there means the conftest.py next to the test.
    delta = analyse_texts({
        "tests/__init__.py": "", "tests/unit/__init__.py": "",
        "tests/unit/analysis/conftest.py": "def helper():\n    pass\n",
        "tests/unit/analysis/types.py": "",
        "tests/unit/analysis/test_x.py": "from conftest import helper\nimport types\nhelper()\n",
        "tests/unit/mining/__init__.py": "", "tests/unit/mining/conftest.py": "",
        "tests/unit/mining/test_y.py": "import types\n",
        "scripts/json.py": "import json\n", "scripts/run.py": "import json\n", "other/json.py": "",
        "tools/dump.py": "import json\n",
    })
    assert f"{M}tests.unit.analysis.conftest" in node_set(delta, "py.module")
    assert edge_set(delta, "imports") == {
        ("imports", f"{M}tests.unit.analysis.test_x", f"{M}tests.unit.analysis.conftest"),
        # Python would take the types.py next to the test (sys.path[0]); from elsewhere it is stdlib
        ("imports", f"{M}tests.unit.analysis.test_x", f"{M}tests.unit.analysis.types"),
        ("imports", f"{M}tests.unit.mining.test_y", "py.distribution:pypi:python-stdlib"),
        # a loose json.py shadows the stdlib beside it only (itself: no edge)
        ("imports", f"{M}scripts.run", f"{M}scripts.json"),
        ("imports", f"{M}tools.dump", "py.distribution:pypi:python-stdlib"),
    }
    assert ("calls", f"{M}tests.unit.analysis.test_x", "py.function:tests.unit.analysis.conftest.helper") in \
        edge_set(delta, "calls")
