"""dbt's Jinja context, one fixture per failure class seen on public projects, exact expectations.

Each fixture is a tiny project written here; what it must give is written out in full (model
edges, rendered SQL or column lineage), and the slow test at the end checks the model edges of
every fixture against ``dbt parse`` itself.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import edge_set
from toolvenv import DBT_REQUIREMENTS, DBT_VENV_NAME, tool_venv

from freshpoc_tasks.analysis.dbt import DbtAnalyzer, find_profile
from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.model import AnalysisConfig, RepoContext, SourceFile

PROJECT = "name: p\nversion: '1.0.0'\nconfig-version: 2\nprofile: p\n"
SOURCES = ("version: 2\nsources:\n  - name: raw\n    tables:\n      - name: t\n"
           "        columns: [{name: id}, {name: v}]\n")


def analyse(files: dict[str, str], profiles_dir: str | None = None, **config: object):
    return analyse_repository([SourceFile.from_text(p, t) for p, t in files.items()], "local/t",
                              config=AnalysisConfig(**config),  # type: ignore[arg-type]
                              analyzers=[DbtAnalyzer(profiles_dir=profiles_dir)])


def rendered(files: dict[str, str], path: str, profiles_dir: str | None = None) -> str:
    sources = {p: SourceFile.from_text(p, t) for p, t in files.items()}
    analyzer = DbtAnalyzer(profiles_dir=profiles_dir)
    result = analyzer.analyze_file(sources[path], RepoContext("local/t", sources))
    assert [d.code for d in result.diagnostics] == []
    return " ".join(result.facts["rendered"].split())


def deps(delta) -> set[tuple[str, str]]:
    return {(s, d) for (_t, s, d) in edge_set(delta, "depends_on")}


def lineage(delta) -> set[tuple[str, str]]:
    return {(s.split(":", 2)[2], d.split(":", 2)[2]) for (_t, s, d) in edge_set(delta, "derives_from")}


# -- return() ------------------------------------------------------------------------------------

RETURN_FIXTURE = {
    "dbt_project.yml": PROJECT,
    "macros/lists.sql": (
        # ``inner`` is defined first, so Jinja links ``outer`` to it directly (no namespace lookup)
        "{% macro inner() %}{{ return(['b', 'c']) }}{% endmacro %}\n"
        "{% macro outer() %}{% set found = inner() %}{{ return(found) }}{% endmacro %}\n"
        "{% macro first_power(n) %}{% for _ in range(1, 10) %}{% if n <= 2 ** loop.index %}"
        "{{ return(loop.index) }}{% endif %}{% endfor %}{% endmacro %}\n"),
    "models/a.sql": ("{% for m in outer() %}select id, {{ first_power(5) }} as p from {{ ref(m) }}"
                     "{% if not loop.last %} union all {% endif %}{% endfor %}"),
    "models/b.sql": "select id from {{ source('raw', 't') }}",
    "models/c.sql": "select id from {{ source('raw', 't') }}",
    "models/sources.yml": SOURCES,
}


def test_return_gives_values_not_text():
    assert rendered(RETURN_FIXTURE, "models/a.sql") == (
        "select id, 3 as p from __dbt_ref__b union all select id, 3 as p from __dbt_ref__c")
    delta = analyse(RETURN_FIXTURE)
    assert deps(delta) == {("dbt.model:p.a", "dbt.model:p.b"), ("dbt.model:p.a", "dbt.model:p.c"),
                           ("dbt.model:p.b", "dbt.source:p.raw.t"), ("dbt.model:p.c", "dbt.source:p.raw.t")}
    assert ("main.a.id", "main.b.id") in lineage(delta) and ("main.a.id", "main.c.id") in lineage(delta)
    assert delta.diagnostics == []


# -- statement blocks, load_result, run_query ----------------------------------------------------

STATEMENT_FIXTURE = {
    "dbt_project.yml": PROJECT,
    "macros/values.sql": (
        "{% macro column_values(rel) %}"
        "{% call statement('vals', fetch_result=True) %}select distinct v from {{ rel }}{% endcall %}"
        "{% set rows = load_result('vals')['data'] %}"
        "{% set q = run_query('select 1') %}"
        "{% if execute %}{% set first = q.columns[0].values() %}{% endif %}"
        "{{ return((rows or []) | map(attribute=0) | list) }}"
        "{% endmacro %}"),
    "models/a.sql": ("{% set vals = column_values(ref('c')) %}"
                     "select id{% for v in vals %}, {{ v }}{% endfor %} from {{ ref('b') }}"),
    "models/b.sql": "select id, v from {{ source('raw', 't') }}",
    "models/c.sql": "select v from {{ source('raw', 't') }}",
    "models/sources.yml": SOURCES,
}


def test_statement_blocks_and_query_results_are_empty_stand_ins():
    # As while dbt parses: the statement body is not run, results are empty, refs still count.
    assert rendered(STATEMENT_FIXTURE, "models/a.sql") == "select id from __dbt_ref__b"
    delta = analyse(STATEMENT_FIXTURE)
    assert deps(delta) == {("dbt.model:p.a", "dbt.model:p.b"), ("dbt.model:p.a", "dbt.model:p.c"),
                           ("dbt.model:p.b", "dbt.source:p.raw.t"), ("dbt.model:p.c", "dbt.source:p.raw.t")}
    assert ("main.a.id", "main.b.id") in lineage(delta)
    assert delta.diagnostics == []


def test_unguarded_result_access_renders_empty_instead_of_failing():
    # Code that forgets ``{% if execute %}`` still renders: every result is empty, not None.
    files = {**STATEMENT_FIXTURE, "models/probe.sql": (
        "{% call statement('x', fetch_result=True) %}select 1{% endcall %}"
        "{% set r = load_result('x') %}{% set q = run_query('select 2') %}"
        "select {{ r.table.rows | length }} as n, {{ r['data'] | length }} as m, "
        "{{ q.columns[0].values() | length }} as k, {{ q.rows | length }} as j"
        "{% for row in q %}, {{ row }}{% endfor %} from {{ ref('b') }}")}
    assert rendered(files, "models/probe.sql") == "select 0 as n, 0 as m, 0 as k, 0 as j from __dbt_ref__b"


# -- adapter.dispatch across the project and its packages ----------------------------------------

def dispatch_fixture(adapter: str, dispatch: str = "") -> dict[str, str]:
    return {
        "dbt_project.yml": PROJECT + dispatch,
        "profiles.yml": f"p:\n  target: dev\n  outputs:\n    dev: {{type: {adapter}, schema: main}}\n",
        "packages.yml": "packages:\n  - package: acme/util\n    version: 1.0.0\n",
        "dbt_packages/util/dbt_project.yml": "name: util\nversion: '1.0.0'\nconfig-version: 2\n",
        "dbt_packages/util/macros/pick.sql": (
            "{% macro pick(col) %}{{ return(adapter.dispatch('pick', 'util')(col)) }}{% endmacro %}"
            "{% macro default__pick(col) %}upper({{ col }}){% endmacro %}"
            "{% macro postgres__pick(col) %}lower({{ col }}){% endmacro %}"
            "{% macro snowflake__pick(col) %}{{ util.helper(col) }}{% endmacro %}"
            "{% macro helper(col) %}trim({{ col }}){% endmacro %}"),
        "macros/overrides.sql": "{% macro redshift__pick(col) %}initcap({{ col }}){% endmacro %}",
        "macros/shim.sql": "",
        "models/a.sql": "select {{ util.pick('v') }} as w, {{ dbt.date_trunc('day', 'v') }} as d "
                        "from {{ source('raw', 't') }}",
        "models/sources.yml": SOURCES,
    }


@pytest.mark.parametrize(("adapter", "expected"), [
    ("duckdb", "upper(v)"),       # no duckdb__pick: default__pick of the package
    ("postgres", "lower(v)"),     # the package's own postgres__pick
    ("redshift", "initcap(v)"),   # the root project's redshift__pick comes first
    ("snowflake", "trim(v)"),     # snowflake__pick calls another macro of its package
])
def test_dispatch_finds_adapter_then_default_across_project_and_packages(adapter, expected):
    sql = rendered(dispatch_fixture(adapter), "models/a.sql")
    assert sql == f"select {expected} as w, date_trunc('day', v) as d from __dbt_src__raw__t"


def test_dispatch_search_order_from_project_config():
    files = dispatch_fixture("postgres")
    files["macros/shim.sql"] = "{% macro default__pick(col) %}coalesce({{ col }}, '-'){% endmacro %}"
    # by default the root project is searched first, with every prefix, before the package
    assert rendered(files, "models/a.sql").startswith("select coalesce(v, '-') as w")
    files["dbt_project.yml"] = PROJECT + "dispatch:\n  - macro_namespace: util\n    search_order: [util, p]\n"
    assert rendered(files, "models/a.sql").startswith("select lower(v) as w")


def test_package_macros_give_column_lineage():
    delta = analyse(dispatch_fixture("postgres"))
    assert lineage(delta) == {("main.a.w", "raw.t.v"), ("main.a.d", "raw.t.v")}
    assert delta.diagnostics == []


# -- packages-install-path --------------------------------------------------------------------

INSTALL_PATH_FIXTURE = {
    "dbt_project.yml": PROJECT + "packages-install-path: vendor/dbt\nvars:\n  util:\n    factor: 3\n",
    "vendor/dbt/util/dbt_project.yml": ("name: util\nversion: '1.0.0'\nconfig-version: 2\n"
                                        "vars:\n  factor: 2\n"),
    "vendor/dbt/util/macros/m.sql": "{% macro twice(col) %}{{ col }} * 2{% endmacro %}",
    "vendor/dbt/util/models/util_base.sql": ("select id * {{ var('factor') }} as id "
                                             "from {{ source('raw', 't') }}"),
    "vendor/dbt/util/models/sources.yml": SOURCES,
    # a project inside the package (its integration tests) is not part of the installing project
    "vendor/dbt/util/integration_tests/dbt_project.yml": "name: util_tests\nversion: '1.0.0'\n",
    "vendor/dbt/util/integration_tests/models/t.sql": "select * from {{ ref('util_base') }}",
    "models/a.sql": "select {{ util.twice('id') }} as id from {{ ref('util_base') }}",
    "models/b.sql": "select id from {{ ref('util', 'util_base') }}",
}


def test_packages_come_from_packages_install_path():
    delta = analyse(INSTALL_PATH_FIXTURE)
    assert deps(delta) == {("dbt.model:p.a", "dbt.model:util.util_base"),
                           ("dbt.model:p.b", "dbt.model:util.util_base"),
                           ("dbt.model:util.util_base", "dbt.source:util.raw.t")}
    # the root project's vars for the package win over the package's own
    assert rendered(INSTALL_PATH_FIXTURE, "vendor/dbt/util/models/util_base.sql") == (
        "select id * 3 as id from __dbt_src__raw__t")
    assert rendered(INSTALL_PATH_FIXTURE, "models/a.sql") == "select id * 2 as id from __dbt_ref__util_base"
    assert lineage(delta) == {("main.util_base.id", "raw.t.id"), ("main.a.id", "main.util_base.id"),
                              ("main.b.id", "main.util_base.id")}
    assert not any(n.key.startswith("util_tests") for n in delta.nodes)
    assert delta.diagnostics == []


# -- profiles.yml where dbt looks, and the dialect it picks -----------------------------------------

def profile(adapter: str, database: str) -> str:
    return f"p:\n  target: prod\n  outputs:\n    prod: {{type: {adapter}, database: {database}, schema: s}}\n"


def test_profiles_lookup_order(tmp_path, monkeypatch):
    files = {"dbt_project.yml": PROJECT, "profiles.yml": profile("postgres", "in_project"),
             "ci/profiles.yml": profile("snowflake", "from_flag")}
    ctx = RepoContext("local/t", {p: SourceFile.from_text(p, t) for p, t in files.items()})
    env_dir, home = tmp_path / "env", tmp_path / "home"
    env_dir.mkdir()
    (env_dir / "profiles.yml").write_text(profile("bigquery", "from_env"))
    (home / ".dbt").mkdir(parents=True)
    (home / ".dbt" / "profiles.yml").write_text(profile("redshift", "from_home"))
    env = {"DBT_PROFILES_DIR": str(env_dir)}

    def found(profiles_dir, environ, files_ctx=ctx):
        t = find_profile("p", "", files_ctx, profiles_dir, environ=environ, home=home)
        return t.adapter, t.database

    assert found("ci", env) == ("snowflake", "from_flag")            # --profiles-dir first
    # then DBT_PROFILES_DIR: outside the repository, so only its adapter and target are taken
    assert found(None, env) == ("bigquery", None)
    assert found(None, {}) == ("postgres", "in_project")             # then the project folder
    bare = RepoContext("local/t", {"dbt_project.yml": SourceFile.from_text("dbt_project.yml", PROJECT)})
    assert found(None, {}, bare) == ("redshift", None)               # then ~/.dbt (host: adapter only)
    host = find_profile("p", "", bare, None, environ={}, home=home)
    assert (host.name, host.schema, host.source) == ("prod", "main", "~/.dbt/profiles.yml")
    assert str(tmp_path) not in repr(host)  # no host path or value echoed
    assert find_profile("p", "", bare, None, environ={}, home=tmp_path / "nobody").adapter is None


def test_profile_in_a_subfolder_picks_the_dialect_and_relation_names():
    files = {"dbt_project.yml": PROJECT, "profile/profiles.yml": profile("snowflake", "ANALYTICS"),
             "models/a.sql": "select id, v from {{ source('raw', 't') }} "
                             "qualify row_number() over (partition by id order by v) = 1",
             "models/sources.yml": SOURCES}
    delta = analyse(files, profiles_dir="profile")
    project = next(n for n in delta.nodes if n.type == "dbt.project")
    assert project.props["dialect"] == "snowflake"
    assert lineage(delta) == {("analytics.s.a.id", "analytics.raw.t.id"),
                              ("analytics.s.a.v", "analytics.raw.t.v")}
    assert delta.diagnostics == []
    # without the flag dbt would not look in profile/: no adapter, the default dialect
    project = next(n for n in analyse(files).nodes if n.type == "dbt.project")
    assert project.props["dialect"] == ""


def test_profile_values_never_read_the_machine_environment(monkeypatch):
    monkeypatch.setenv("SECRET_DB", "leaked")
    files = {"dbt_project.yml": PROJECT,
             "profiles.yml": "p:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n"
                             "      dbname: \"{{ env_var('SECRET_DB', 'dev_db') }}\"\n      schema: s\n"}
    ctx = RepoContext("local/t", {p: SourceFile.from_text(p, t) for p, t in files.items()})
    assert find_profile("p", "", ctx, None, environ={}).database == "dev_db"


# -- a model that still fails to render ----------------------------------------------------------

FALLBACK_FIXTURE = {
    "dbt_project.yml": PROJECT,
    "models/a.sql": ("{% set cols = adapter.get_columns_in_relation(ref('b')) %}"
                     "{% if cols | length == 0 %}{{ exceptions.raise_compiler_error('needs a warehouse') }}"
                     "{% endif %}select * from {{ ref('b') }} join {{ source('raw', 't') }} using (id)"
                     "{% set dynamic = 'c' %} join {{ ref(dynamic) }} using (id)"),
    "models/b.sql": "select id from {{ source('raw', 't') }}",
    "models/c.sql": "select id from {{ source('raw', 't') }}",
    "models/sources.yml": SOURCES,
}


def test_render_failure_keeps_literal_refs_from_the_syntax_tree():
    delta = analyse(FALLBACK_FIXTURE)
    a = {(e.dst.split(":", 2)[2], e.confidence, e.props.get("via")) for e in delta.edges
         if e.type == "depends_on" and e.src.endswith(":p.a")}
    # literal ref('b') and source('raw', 't') survive; ref(dynamic) cannot be known without rendering
    assert a == {("p.b", 0.6, "jinja_syntax_tree"), ("p.raw.t", 0.6, "jinja_syntax_tree")}
    assert [(d.path, d.code, d.severity) for d in delta.diagnostics] == [
        ("models/a.sql", "jinja_render_error", "warning")]
    assert "needs a warehouse" in delta.diagnostics[0].message
    node = next(n for n in delta.nodes if n.id.endswith("dbt.model:local/t:p.a"))
    assert node.props["rendered"] is False
    assert not any(s.startswith("main.a.") for s, _d in lineage(delta))


# -- dbt itself agrees on every fixture's model edges ----------------------------------------------

FIXTURES = {"return": RETURN_FIXTURE, "statement": STATEMENT_FIXTURE,
            "dispatch": dispatch_fixture("postgres"), "install_path": INSTALL_PATH_FIXTURE}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_model_edges_match_dbt_parse(name, tmp_path):
    venv = tool_venv(DBT_VENV_NAME, DBT_REQUIREMENTS)
    project = tmp_path / "project"
    for path, text in FIXTURES[name].items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(yaml.safe_dump(
        {"p": {"target": "dev", "outputs": {"dev": {"type": "duckdb", "path": str(tmp_path / "x.duckdb")}}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    subprocess.run([str(venv / "bin" / "dbt"), "parse", "--profiles-dir", str(profiles),
                    "--project-dir", str(project), "--target-path", str(tmp_path / "target"),
                    "--log-path", str(tmp_path / "logs"), "--no-send-anonymous-usage-stats"],
                   check=True, cwd=tmp_path, env=env, capture_output=True, timeout=600)
    manifest = json.loads(Path(tmp_path / "target" / "manifest.json").read_text())
    expected = {(f"dbt.model:{uid.split('.', 1)[1]}", f"dbt.{dep.split('.', 1)[0]}:{dep.split('.', 1)[1]}")
                for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"
                for dep in node["depends_on"]["nodes"]}
    assert deps(analyse(FIXTURES[name])) == expected


# -- the sandbox stays a sandbox -----------------------------------------------------------------

def test_regular_expressions_work_but_cannot_hang_the_analysis():
    files = {"dbt_project.yml": PROJECT, "models/b.sql": "select 1 as id",
             "models/a.sql": "select 1 as {{ modules.re.sub('[^a-z0-9_]+', '_', 'Order Total' | lower) }} "
                             "from {{ ref('b') }}",
             "models/evil.sql": ("{{ modules.re.match('(a+)+$', 'a' * 40 ~ '!') }}"
                                 "select 1 from {{ ref('b') }}")}
    assert rendered(files, "models/a.sql") == "select 1 as order_total from __dbt_ref__b"
    delta = analyse(files)
    assert [(d.path, d.code) for d in delta.diagnostics] == [("models/evil.sql", "jinja_render_error")]
    assert "refused in the sandbox" in delta.diagnostics[0].message
    assert ("dbt.model:p.evil", "dbt.model:p.b") in deps(delta)


def test_project_vars_render_with_the_profile_target():
    variables = ("vars:\n  start: \"{{ '2021' if target.name == 'prod' else '2020' }}\"\n"
                 "  stamp: \"{{ modules.datetime.date(2000, 1, 2).isoformat() }}\"\n")
    files = {"dbt_project.yml": PROJECT + variables,
             "profiles.yml": profile("postgres", "db"),
             "models/a.sql": "select {{ var('start') }} as y, '{{ var('stamp') }}' as d"}
    assert rendered(files, "models/a.sql") == "select 2021 as y, '2000-01-02' as d"


# -- macros that ask the warehouse for columns ---------------------------------------------------

def test_column_introspection_answers_from_upstream_lineage():
    # ``adapter.get_columns_in_relation`` (dbt_utils.unpivot, union_relations...) has no warehouse
    # to ask; once upstream columns are known the link step renders the model again with them.
    files = {
        "dbt_project.yml": PROJECT,
        "macros/unpivot.sql": (
            "{% macro unpivot(relation, exclude) %}"
            "{% for col in adapter.get_columns_in_relation(relation) if col.column not in exclude %}"
            "select {{ exclude | join(', ') }}, '{{ col.column }}' as field, {{ col.column }} as value "
            "from {{ relation }}{% if not loop.last %} union all {% endif %}{% endfor %}{% endmacro %}"),
        "models/b.sql": "select id, v, v * 2 as w from {{ source('raw', 't') }}",
        "models/a.sql": "with p as ({{ unpivot(ref('b'), ['id']) }}) select id, field, value from p",
        "models/sources.yml": SOURCES,
    }
    # alone, the model renders what dbt parse renders: no columns, a CTE with no query
    assert rendered(files, "models/a.sql") == "with p as () select id, field, value from p"
    delta = analyse(files)
    assert {(s, d) for s, d in lineage(delta) if s.startswith("main.a.")} == {
        ("main.a.id", "main.b.id"), ("main.a.value", "main.b.v"), ("main.a.value", "main.b.w")}
    assert delta.diagnostics == []


# -- cost stays linear in the number of models ---------------------------------------------------

def test_lineage_gets_only_the_relations_a_model_reads(monkeypatch):
    # Handing every model the whole warehouse schema makes sqlglot normalise it per model:
    # quadratic in the project's size. Each model must get only what it reads.
    from freshpoc_tasks.analysis import dbt as dbt_module

    seen: list[int] = []
    original = dbt_module.add_column_lineage

    def spy(info, stmt, dialect, schema, sources=None, **kwargs):
        seen.append(len(schema))
        return original(info, stmt, dialect, schema, sources, **kwargs)

    monkeypatch.setattr(dbt_module, "add_column_lineage", spy)
    files = {"dbt_project.yml": PROJECT, "models/sources.yml": SOURCES,
             "models/m0.sql": "select id, v from {{ source('raw', 't') }}"}
    for i in range(1, 40):
        files[f"models/m{i}.sql"] = f"select id, v from {{{{ ref('m{i - 1}') }}}}"
    delta = analyse(files, workers=0)  # inline, so the spy sees the calls
    assert len(seen) == 40 and max(seen) == 1
    assert ("main.m39.v", "main.m38.v") in lineage(delta)
