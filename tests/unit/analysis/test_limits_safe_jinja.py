"""safe_jinja: every way a template grows a value is refused before the value is built."""

from __future__ import annotations

import time
from typing import Any

import pytest
from jinja2 import ChainableUndefined, TemplateError
from jinja2.runtime import Macro

from freshpoc_tasks.analysis.safe_jinja import JinjaBudgetExceeded, JinjaLimits, SafeSandbox

NS = "{% set ns = namespace(x=X) %}{% for i in range(40) %}{% set ns.x = STEP %}{% endfor %}"


def env(**limits: Any) -> SafeSandbox:
    return SafeSandbox(autoescape=False, extensions=["jinja2.ext.do"], limits=JinjaLimits(**limits))


@pytest.mark.parametrize(("source", "what"), [
    ("{{ 'x' * 2000000000 }}", "string of 2000000000"),
    ("{{ 2000000000 * 'x' }}", "string of 2000000000"),
    ("{{ [1] * 2000000000 }}", "list of 2000000000"),
    (NS.replace("X", "[1]").replace("STEP", "ns.x + ns.x") + "{{ ns.x|length }}", "list of 131072"),
    (NS.replace("X", "'ab'").replace("STEP", "ns.x ~ ns.x") + "{{ ns.x|length }}", "string of 1048576"),
    (NS.replace("X", "[1]").replace("STEP", "[ns.x, ns.x]") + "{{ ns.x }}", "more than 100000 parts"),
    (NS.replace("X", "[1]").replace("STEP", "[ns.x, ns.x]") + "{{ ns.x|tojson }}", "more than 100000 parts"),
    ("{% set x = [1] %}{% for i in range(40) %}{% do x.extend(x) %}{% endfor %}", "list of 131072"),
    ("{% for i in range(10**9) %}{% endfor %}", "range of 1000000000"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loop iterations"),
    ("{% for i in range(100000) %}" + "x" * 1000 + "{% endfor %}", "characters of output"),
    ("{% macro m(n) %}{% if n %}{{ m(n-1) }}{{ m(n-1) }}{% endif %}{% endmacro %}{{ m(40) }}", "iterations"),
    ("{{ 'x'|center(2000000000) }}", "string of 2000000001"),
    ("{{ 'x'|indent(2000000000, true) }}", "string of 2000000001"),
    ("{{ 'x'.ljust(2000000000) }}", "string of 2000000000"),
    ("{{ ('x' * 100000)|replace('x', 'y' * 30) }}", "string of 3000000"),
    ("{{ ('x' * 100000).replace('x', 'y' * 30) }}", "string of 3000000"),
    ("{{ ('x' * 100000)|join('y' * 20) }}", "string of 2099980"),
    ("{{ ('y' * 20).join('x' * 100000) }}", "string of 2099980"),
    ("{{ 10 ** (10 ** 9) }}", "integer power"),
    ("{{ '%2000000000d' % 1 }}", "%-format width"),
    ("{{ '%*d' % (2000000000, 1) }}", "%-format width"),
    ("{{ '%2000000000d'|format(1) }}", "%-format width"),
    ("{{ '{:>2000000000}'.format(1) }}", "format width"),
    ("{{ '{:>{w}}'.format(1, w=2000000000) }}", "computed format spec"),
    ("{{ [1]|batch(2000000000, 'x')|list }}", "list of 2000000000"),
    ("{{ [1]|slice(2000000000)|list }}", "list of 2000000000"),
])
def test_amplifying_templates_are_refused_fast(source, what):
    start = time.monotonic()
    with pytest.raises(JinjaBudgetExceeded, match=what):
        env().from_string(source).render()
    assert time.monotonic() - start < 5


def test_generators_from_the_context_are_counted_as_filters_draw_them():
    import itertools

    e = env()
    e.globals["modules"] = {"itertools": itertools}
    for source in ("{{ modules.itertools.repeat('x', 10**9) | join }}",
                   "{{ modules.itertools.repeat(1, 10**9) | list | length }}",
                   "{{ modules.itertools.product(range(1000), repeat=3) | sort | first }}",
                   "{{ ''.join(modules.itertools.repeat('x', 10**9)) }}"):
        start = time.monotonic()
        with pytest.raises(JinjaBudgetExceeded, match="iterable of more than 100000"):
            e.from_string(source).render()
        assert time.monotonic() - start < 5
    assert e.from_string("{{ modules.itertools.repeat('x', 3) | join('-') }}").render() == "x-x-x"


def test_a_refusal_is_a_template_error_for_existing_handlers():
    assert issubclass(JinjaBudgetExceeded, TemplateError)


@pytest.mark.parametrize(("source", "expected"), [
    ("{% for c in ['a', 'b', 'c'] %}{{ c ~ '_x' }}{% if not loop.last %}, {% endif %}{% endfor %}",
     "a_x, b_x, c_x"),
    ("{% for c in [] %}x{% else %}empty{% endfor %}", "empty"),
    ("{% for c in [3, 1, 2] if c > 1 %}{{ loop.index }}/{{ loop.length }}{% endfor %}", "1/22/2"),
    ("{% for n in [{'k': [{'k': []}]}] recursive %}[{{ loop(n.k) }}]{% endfor %}", "[[]]"),
    ("{{ 'ab' * 3 }} {{ [1, 2] + [3] }} {{ 2 ** 10 }} {{ '%05.1f' % 3.14159 }} {{ '{:>4}'.format(7) }}",
     "ababab [1, 2, 3] 1024 003.1    7"),
    ("{{ ['a', 'b']|join(', ') }} {{ 'a-b'|replace('-', '_') }} {{ 'x'|center(5) }}|", "a, b a_b   x  |"),
    ("{% set x = [] %}{% do x.append(1) %}{% do x.extend([2, 3]) %}{{ x }}", "[1, 2, 3]"),
    ("{% macro q(c) %}\"{{ c }}\"{% endmacro %}select {{ q('id') }} from t", 'select "id" from t'),
    ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
])
def test_ordinary_templates_render_as_before(source, expected):
    assert env().from_string(source).render() == expected


def test_budget_restarts_with_every_render_even_by_hand():
    e = env(max_steps=50)
    template = e.from_string("{% for i in range(30) %}{% endfor %}ok")
    assert [template.render() for _ in range(5)] == ["ok"] * 5
    ctx = template.new_context({})  # dbt-style rendering drives root_render_func directly
    assert e.concat(template.root_render_func(ctx)) == "ok"  # type: ignore[attr-defined]
    with pytest.raises(JinjaBudgetExceeded):
        e.from_string("{% for i in range(60) %}{% endfor %}").render()


def test_a_subclass_keeps_its_own_call_hook_and_undefined():
    class Returned(Exception):
        def __init__(self, value: Any) -> None:
            self.value = value

    class DbtLike(SafeSandbox):
        def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(__obj, Macro):
                try:
                    return super().call(__context, __obj, *args, **kwargs)
                except Returned as ret:
                    return ret.value
            return super().call(__context, __obj, *args, **kwargs)

    def do_return(value: Any) -> None:
        raise Returned(value)

    e = DbtLike(undefined=ChainableUndefined, autoescape=False)
    e.globals["return"] = do_return
    out = e.from_string("{% macro f() %}{{ return([1, 2]) }}{% endmacro %}{{ f() | length }}{{ nope.x }}")
    assert out.render() == "2"
    with pytest.raises(JinjaBudgetExceeded):
        e.from_string("{% macro f() %}{{ return('x' * 10**9) }}{% endmacro %}{{ f() }}").render()


def test_compiling_the_same_tree_twice_does_not_wrap_twice():
    e = env(max_steps=35)  # 8 iterations + 2 calls (range, the loop guard) of 10 steps: 28
    tree = e.parse("{% for i in range(8) %}{% endfor %}ok")
    assert e.from_string(tree).render() == "ok"
    assert e.from_string(tree).render() == "ok"
