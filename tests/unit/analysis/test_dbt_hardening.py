"""dbt analyzer on hostile projects: each hostile file costs itself, never its neighbours.

One fixture per failure class of issue 15: a macro file whose top-level code would loop for
ever, YAML alias bombs in the project and schema files, values blown up and handed to
``tojson``/``fromyaml``, and a model that breaks the link step.
"""

from __future__ import annotations

from conftest import analyse_texts, edge_set, node_set

PROJECT = "name: p\nversion: '1'\nprofile: p\n"
NESTED_LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
CENTS = "{% macro cents(c) %}({{ c }} / 100){% endmacro %}"
C = "sql.column:default:"


def laughs(levels: int = 9) -> str:
    """A billion-laughs document: each anchor aliases the previous one ten times."""
    lines = ["a0: &a0 [lol, lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def codes(delta) -> list[tuple[str, str]]:
    return sorted((d.path, d.code) for d in delta.diagnostics)


def test_macro_file_top_level_code_never_runs_but_its_macros_do():
    delta = analyse_texts({
        "dbt_project.yml": PROJECT,
        "macros/m.sql": NESTED_LOOP + CENTS + "{% do exceptions.raise_compiler_error('top level ran') %}",
        "models/a.sql": "select 1 as id",
        "models/b.sql": "select {{ cents('id') }} as id from {{ ref('a') }}",
    }, time_budget_s=5)
    assert codes(delta) == []
    assert ("uses_macro", "dbt.model:p.b", "dbt.macro:p.cents") in edge_set(delta)
    assert ("derives_from", f"{C}main.b.id", f"{C}main.a.id") in edge_set(delta, "derives_from")


def test_yaml_alias_bombs_are_refused_with_their_own_code():
    delta = analyse_texts({
        "dbt_project.yml": PROJECT,
        "models/bomb.yml": "version: 2\n" + laughs(),
        "models/deep.yml": "x:\n" + "".join("  " * i + "a:\n" for i in range(1, 300)),
        "models/a.sql": "select 1 as id",
    })
    assert codes(delta) == [("models/bomb.yml", "yaml_alias_budget"), ("models/deep.yml", "yaml_too_deep")]
    assert "dbt.model:p.a" in node_set(delta)


def test_alias_bomb_in_project_vars_costs_the_project_file_only():
    delta = analyse_texts({
        "dbt_project.yml": PROJECT + "vars:\n" + "".join(f"  {line}\n" for line in laughs().splitlines()),
        "models/a.sql": "select 1 as id",
    })
    assert codes(delta) == [("dbt_project.yml", "yaml_alias_budget")]
    # the project's settings are unreadable, so its models are analysed under the default name
    assert [n.name for n in delta.nodes if n.type == "dbt.model"] == ["a"]


def test_values_blown_up_for_tojson_and_fromyaml_are_refused_per_model():
    doubled = ("{% set ns = namespace(x=[1]) %}"
               "{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}")
    delta = analyse_texts({
        "dbt_project.yml": PROJECT,
        "models/j.sql": doubled + "select '{{ tojson(ns.x) }}' as j",
        "models/y.sql": "select '{{ fromyaml(" + repr(laughs()) + ") }}' as y",
        "models/a.sql": "select 1 as id",
    }, time_budget_s=10)
    assert codes(delta) == [("models/j.sql", "jinja_render_error"), ("models/y.sql", "jinja_render_error")]
    messages = {d.path: d.message for d in delta.diagnostics}
    assert "budget" in messages["models/j.sql"] and "fromyaml refused" in messages["models/y.sql"]
    assert "dbt.model:p.a" in node_set(delta)


def test_a_model_that_breaks_the_link_step_costs_only_itself():
    depth = 300
    deep = "select id from " + "(select id from " * depth + "{{ ref('ok') }}" + ") as s" * depth
    delta = analyse_texts({
        "dbt_project.yml": PROJECT,
        "models/ok.sql": "select 1 as id",
        "models/deep.sql": deep,
        "models/b.sql": "select id from {{ ref('ok') }}",
        "models/c.sql": "select id from {{ ref('b') }}",
    })
    assert [p for p, _c in codes(delta)] == ["models/deep.sql"]
    edges = edge_set(delta, "depends_on", "derives_from")
    assert {("depends_on", "dbt.model:p.b", "dbt.model:p.ok"),
            ("depends_on", "dbt.model:p.c", "dbt.model:p.b"),
            ("depends_on", "dbt.model:p.deep", "dbt.model:p.ok"),
            ("derives_from", f"{C}main.b.id", f"{C}main.ok.id"),
            ("derives_from", f"{C}main.c.id", f"{C}main.b.id")} <= edges
