"""Airflow DAG files, one fixture per failure class, expectations taken from Airflow's DagBag.

Each fixture below was loaded by Airflow 3.3.2's ``DagBag`` (``benchmarks/accuracy_airflow.py
--dags <folder of these files>``); the expected DAG ids, task ids and edges are what DagBag built,
written out here so the static analyzer is held to them exactly.
"""

from __future__ import annotations

from conftest import analyse_texts, edge_set

from freshpoc_tasks.analysis.airflow import MAX_EDGES, AirflowAnalyzer
from freshpoc_tasks.analysis.model import RepoContext, SourceFile
from freshpoc_tasks.contracts.graph import GraphDelta


def shape(delta: GraphDelta) -> dict[str, tuple[set[str], set[tuple[str, str]]]]:
    """Per DAG id: its task ids and its (upstream, downstream) task-id pairs, as DagBag has them."""
    nodes = {n.id: n for n in delta.nodes}
    out: dict[str, tuple[set[str], set[tuple[str, str]]]] = {
        n.props["dag_id"]: (set(), set()) for n in delta.nodes if n.type == "airflow.dag"}
    dag_of: dict[str, str] = {}
    for e in delta.edges:
        if e.type == "has_task":
            dag_of[e.dst] = nodes[e.src].props["dag_id"]
            out[dag_of[e.dst]][0].add(nodes[e.dst].props["task_id"])
    for e in delta.edges:
        if e.type == "upstream_of":
            assert dag_of[e.src] == dag_of[e.dst]
            out[dag_of[e.src]][1].add((nodes[e.src].props["task_id"], nodes[e.dst].props["task_id"]))
    return out


def analyse(name: str, text: str) -> GraphDelta:
    return analyse_texts({f"dags/{name}": text})

FX_GROUPS = '''\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TaskGroup, task


class MathGroup(TaskGroup):
    def __init__(self, group_id, num=0, **kwargs):
        super().__init__(group_id=group_id, **kwargs)

        @task(task_group=self)
        def add(n):
            return n + 1

        @task(task_group=self)
        def mul(n):
            return n * 2

        mul(add(num))


with DAG("fx_groups", schedule=None):
    start = EmptyOperator(task_id="start")
    with TaskGroup("outer") as outer:
        a = EmptyOperator(task_id="a")
        with TaskGroup("inner") as inner:
            b = EmptyOperator(task_id="b")
            c = EmptyOperator(task_id="c")
        with TaskGroup("flat", prefix_group_id=False) as flat:
            d = EmptyOperator(task_id="d")
            with TaskGroup("under_flat") as under_flat:
                e = EmptyOperator(task_id="e")
        a >> inner
    loose = TaskGroup("loose")
    f = EmptyOperator(task_id="f", task_group=loose)
    end = EmptyOperator(task_id="end")
    start >> outer >> end
    b.task_group >> f
    m = MathGroup("math", num=3)
    b.task_group.parent_group >> m
'''

def test_task_groups():
    """Task groups: context manager, nesting, ``prefix_group_id=False``, ``task_group=``,
    ``.task_group``/``.parent_group``, a TaskGroup subclass; a group upstream means its leaves,
    downstream its roots."""
    delta = analyse("fx_groups.py", FX_GROUPS)
    assert shape(delta) == {
        'fx_groups': (
            {'d', 'end', 'loose.f', 'math.add', 'math.mul', 'outer.a', 'outer.inner.b', 'outer.inner.c',
            'start', 'under_flat.e'},
            {('d', 'end'), ('d', 'math.add'), ('math.add', 'math.mul'), ('outer.a', 'outer.inner.b'),
            ('outer.a', 'outer.inner.c'), ('outer.inner.b', 'end'), ('outer.inner.b', 'loose.f'),
            ('outer.inner.b', 'math.add'), ('outer.inner.c', 'end'), ('outer.inner.c', 'loose.f'),
            ('outer.inner.c', 'math.add'), ('start', 'd'), ('start', 'outer.a'), ('start',
            'under_flat.e'), ('under_flat.e', 'end'), ('under_flat.e', 'math.add')}),
    }
    assert delta.diagnostics == []


FX_TASK_GROUP_DECORATOR = '''\
from airflow.sdk import dag, task, task_group


@task
def first():
    return 1


@task
def step(x):
    return x


@task_group
def pipeline(value):
    return step.override(task_id="last")(step(value))


@task_group(group_id="nest")
def outer_group():
    @task_group
    def inner_group():
        step(0)
        step(0)
    inner_group()
    inner_group()


@dag(schedule=None)
def fx_task_group_decorator():
    begin = first()
    for i in range(3):
        begin >> pipeline(i)
    outer_group()
    pipeline.expand(value=[1, 2])


fx_task_group_decorator()
'''

def test_task_group_decorator():
    """``@task_group``: ``group.task`` ids, ``__N`` suffixes on repeated calls (groups and tasks),
    nesting, a returned value standing for the group in ``>>``, ``.expand``."""
    delta = analyse("fx_task_group_decorator.py", FX_TASK_GROUP_DECORATOR)
    assert shape(delta) == {
        'fx_task_group_decorator': (
            {'first', 'nest.inner_group.step', 'nest.inner_group.step__1', 'nest.inner_group__1.step',
            'nest.inner_group__1.step__1', 'pipeline.last', 'pipeline.step', 'pipeline__1.last',
            'pipeline__1.step', 'pipeline__2.last', 'pipeline__2.step', 'pipeline__3.last',
            'pipeline__3.step'},
            {('first', 'pipeline.last'), ('first', 'pipeline__1.last'), ('first', 'pipeline__2.last'),
            ('pipeline.step', 'pipeline.last'), ('pipeline__1.step', 'pipeline__1.last'),
            ('pipeline__2.step', 'pipeline__2.last'), ('pipeline__3.step', 'pipeline__3.last')}),
    }
    assert delta.diagnostics == []


FX_IDS = '''\
import os
from pathlib import Path

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, asset, dag, task

PREFIX = "team"
ENV = "prod"

with DAG(dag_id=Path(__file__).stem, schedule=None):
    EmptyOperator(task_id=f"{PREFIX}_start")

with DAG(f"{PREFIX}_{ENV}_load", schedule=None):
    for table in ["orders", "users"]:
        EmptyOperator(task_id=f"load_{table}")

with DAG(os.path.basename(__file__).replace(".py", "_b"), schedule=None):
    EmptyOperator(task_id="only")


@dag(dag_id=PREFIX + "_decorated")
def ignored_name():
    EmptyOperator(task_id="x")


ignored_name()


@dag
def never_called():
    EmptyOperator(task_id="y")


@asset(schedule=None)
def daily_orders():
    pass


@asset(name="named_asset", schedule=None)
def asset_fn():
    pass


@asset.multi(schedule=None, outlets=[daily_orders])
def multi_producer():
    pass
'''

def test_dag_ids_and_assets():
    """DAG ids from ``Path(__file__).stem``, ``os.path.basename(__file__)``, module constants and
    f-strings; ``@dag(dag_id=...)``; an uncalled ``@dag`` function makes no DAG; ``@asset``
    (named after the asset) and ``@asset.multi`` (after the function) make one-task DAGs."""
    delta = analyse("fx_ids.py", FX_IDS)
    assert shape(delta) == {
        'daily_orders': (
            {'daily_orders'},
            set()),
        'fx_ids': (
            {'team_start'},
            set()),
        'fx_ids_b': (
            {'only'},
            set()),
        'multi_producer': (
            {'multi_producer'},
            set()),
        'named_asset': (
            {'asset_fn'},
            set()),
        'team_decorated': (
            {'x'},
            set()),
        'team_prod_load': (
            {'load_orders', 'load_users'},
            set()),
    }
    assert delta.diagnostics == []


FX_CHAIN = '''\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Label, TaskGroup, chain, chain_linear, cross_downstream

with DAG("fx_chain", schedule=None):
    a, b, c, d, e, f, g, h = [EmptyOperator(task_id=x) for x in "abcdefgh"]
    chain(a, [b, c], [d, e], f)
    steps = [EmptyOperator(task_id=f"s{i}") for i in range(3)]
    chain(*steps)
    chain_linear(g, [h, a], [steps[0], b])
    xs = [EmptyOperator(task_id=f"x{i}") for i in range(2)]
    ys = [EmptyOperator(task_id=f"y{i}") for i in range(2)]
    cross_downstream(xs, ys)
    check = EmptyOperator(task_id="check")
    ok = EmptyOperator(task_id="ok")
    bad = EmptyOperator(task_id="bad")
    check >> Label("fine") >> ok
    check >> Label("broken") >> [bad, h]
    ok << Label("back") << xs[0]
    with TaskGroup("ga") as ga:
        ga1 = EmptyOperator(task_id="ga1")
        ga2 = EmptyOperator(task_id="ga2")
        ga1 >> ga2
    ga1 >> Label("leaves the group") >> bad
'''

def test_chain_and_labels():
    """``chain`` pairs two lists element-wise (not every-to-every) and takes ``*args``;
    ``chain_linear`` and ``cross_downstream`` link every-to-every; ``Label`` in ``>>``/``<<``
    chains, and a label leaving a group links the group's leaves."""
    delta = analyse("fx_chain.py", FX_CHAIN)
    assert shape(delta) == {
        'fx_chain': (
            {'a', 'b', 'bad', 'c', 'check', 'd', 'e', 'f', 'g', 'ga.ga1', 'ga.ga2', 'h', 'ok', 's0',
            's1', 's2', 'x0', 'x1', 'y0', 'y1'},
            {('a', 'b'), ('a', 'c'), ('a', 's0'), ('b', 'd'), ('c', 'e'), ('check', 'bad'), ('check',
            'h'), ('check', 'ok'), ('d', 'f'), ('e', 'f'), ('g', 'a'), ('g', 'h'), ('ga.ga1', 'ga.ga2'),
            ('ga.ga2', 'bad'), ('h', 'b'), ('h', 's0'), ('s0', 's1'), ('s1', 's2'), ('x0', 'ok'), ('x0',
            'y0'), ('x0', 'y1'), ('x1', 'y0'), ('x1', 'y1')}),
    }
    assert delta.diagnostics == []


FX_TASKFLOW = '''\
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import BaseOperator, dag, task


class AddOne(BaseOperator):
    def __init__(self, value, **kwargs):
        super().__init__(**kwargs)
        self.value = value


@dag(schedule=None)
def fx_taskflow():
    @task(multiple_outputs=True)
    def extract():
        return {"a": 1}

    @task
    def transform(data, extra=None):
        return data

    @task
    def load(items):
        pass

    raw = extract()
    get = BashOperator(task_id="get", bash_command="echo 1")
    cooked = transform(raw["a"], extra={"x": [get.output]})
    load.override(task_id="load_all")(cooked)
    load(cooked)
    load(cooked)
    BashOperator(task_id="report", bash_command=cooked)
    mapped = AddOne.partial(task_id="add_one").expand(value=[1, 2])
    BashOperator.partial(task_id="echo").expand(bash_command=["a", "b"])
    transform.partial(extra=1).expand(data=mapped.output)
    transform.expand_kwargs([{"data": 1}])
    plain = EmptyOperator(task_id="plain")
    load(plain)


fx_taskflow()
'''

def test_taskflow_data_dependencies():
    """TaskFlow: XComArgs (a result, ``result["key"]``, ``.output``, inside dicts/lists, in
    operator arguments) are upstream; ``.override(task_id=)``; repeated calls get ``__N``;
    ``.partial().expand()`` / ``.expand_kwargs`` for operators and tasks; an operator object
    passed as an argument is not a dependency."""
    delta = analyse("fx_taskflow.py", FX_TASKFLOW)
    assert shape(delta) == {
        'fx_taskflow': (
            {'add_one', 'echo', 'extract', 'get', 'load', 'load__1', 'load__2', 'load_all', 'plain',
            'report', 'transform', 'transform__1', 'transform__2'},
            {('add_one', 'transform__1'), ('extract', 'transform'), ('get', 'transform'), ('transform',
            'load'), ('transform', 'load__1'), ('transform', 'load_all'), ('transform', 'report')}),
    }
    assert delta.diagnostics == []


FX_SETUP_TEARDOWN = '''\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TaskGroup, setup, task, teardown

with DAG("fx_setup_teardown", schedule=None):
    @setup
    def create():
        return "id"

    @teardown
    def delete(cluster):
        pass

    @task
    def work():
        pass

    with delete(create()):
        work()
        work()

    s = EmptyOperator(task_id="s").as_setup()
    t = EmptyOperator(task_id="t").as_teardown(setups=s)
    with s >> t:
        w = EmptyOperator(task_id="w")
        w2 = EmptyOperator(task_id="w2")
        w >> w2

    with TaskGroup("g") as g:
        gs = EmptyOperator(task_id="gs").as_setup()
        gw = EmptyOperator(task_id="gw")
        gt = EmptyOperator(task_id="gt").as_teardown(setups=gs)
        gs >> gw >> gt
    after = EmptyOperator(task_id="after")
    g >> after
'''

def test_setup_teardown():
    """``@setup``/``@teardown``, ``as_setup``/``as_teardown(setups=)``, the edges the
    setup/teardown context managers add, and group leaves that look past teardowns."""
    delta = analyse("fx_setup_teardown.py", FX_SETUP_TEARDOWN)
    assert shape(delta) == {
        'fx_setup_teardown': (
            {'after', 'create', 'delete', 'g.gs', 'g.gt', 'g.gw', 's', 't', 'w', 'w2', 'work', 'work__1'},
            {('create', 'delete'), ('create', 'work'), ('create', 'work__1'), ('g.gs', 'g.gt'), ('g.gs',
            'g.gw'), ('g.gw', 'after'), ('g.gw', 'g.gt'), ('s', 't'), ('s', 'w'), ('w', 'w2'), ('w2',
            't'), ('work', 'delete'), ('work__1', 'delete')}),
    }
    assert delta.diagnostics == []


FX_LOOPS = '''\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

SOURCES = {"crm": ["accounts", "contacts"], "erp": ["invoices"]}


def make_branch(source, tables, join):
    start = EmptyOperator(task_id=f"start_{source}")
    for i, table in enumerate(tables):
        load = EmptyOperator(task_id="load_{}_{}".format(source, table))
        start >> load >> join
        if i == 0:
            EmptyOperator(task_id=f"first_{source}")
    return start


with DAG("fx_loops", schedule=None) as dag:
    join = EmptyOperator(task_id="join")
    starts = [make_branch(src, tables, join) for src, tables in SOURCES.items()]
    for n in range(2):
        EmptyOperator(task_id="n_%d" % n, dag=dag) >> starts[n]
'''

def test_loops_and_factories():
    """Task ids built in loops, comprehensions and helper functions from literals (f-strings,
    ``str.format``, ``%``, ``enumerate``, ``dict.items``), ``dag=dag`` outside a context."""
    delta = analyse("fx_loops.py", FX_LOOPS)
    assert shape(delta) == {
        'fx_loops': (
            {'first_crm', 'first_erp', 'join', 'load_crm_accounts', 'load_crm_contacts',
            'load_erp_invoices', 'n_0', 'n_1', 'start_crm', 'start_erp'},
            {('load_crm_accounts', 'join'), ('load_crm_contacts', 'join'), ('load_erp_invoices', 'join'),
            ('n_0', 'start_crm'), ('n_1', 'start_erp'), ('start_crm', 'load_crm_accounts'),
            ('start_crm', 'load_crm_contacts'), ('start_erp', 'load_erp_invoices')}),
    }
    assert delta.diagnostics == []


FX_FACTORY_CLASS = '''\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

TABLES = ["a", "b", "c"]


class PipelineFactory:
    prefix = "etl"

    def __init__(self, name, tables):
        self.name = name
        self.tables = tables

    @staticmethod
    def task_name(table):
        return f"load_{table:<3}"

    def build(self):
        with DAG(f"{self.prefix}_{self.name}", schedule=None) as dag:
            loads = {t: EmptyOperator(task_id=self.task_name(t).strip()) for t in self.tables}
            end = EmptyOperator(task_id=f"end_{len(self.tables):02d}")
            for i in range(len(self.tables) - 1):
                loads[self.tables[i]] >> loads[self.tables[i + 1]]
            loads[self.tables[-1]] >> end
        return dag


for n in ("x", "y"):
    globals()[n] = PipelineFactory(n, TABLES).build()
'''


def test_factory_classes_dict_comprehensions_and_format_specs():
    """A DAG factory class (``__init__``, attributes, a staticmethod, a class constant), tasks kept
    in a dict comprehension and indexed by key, f-string format specs, ``globals()[...] =``."""
    delta = analyse("fx_factory_class.py", FX_FACTORY_CLASS)
    expected_tasks = {"end_03", "load_a", "load_b", "load_c"}
    expected_edges = {("load_a", "load_b"), ("load_b", "load_c"), ("load_c", "end_03")}
    expected = (expected_tasks, expected_edges)
    assert shape(delta) == {"etl_x": expected, "etl_y": expected}
    assert delta.diagnostics == []


FX_MISC = '''\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, TaskGroup, setup, task, teardown, task_group

orphan = EmptyOperator(task_id="orphan")

with DAG("fx_misc", schedule=None) as dag:
    a = EmptyOperator(task_id="a")
    a >> orphan
    s1 = EmptyOperator(task_id="s1").as_setup()
    t1 = EmptyOperator(task_id="t1").as_teardown(setups=s1)
    s2 = EmptyOperator(task_id="s2").as_setup()
    t2 = EmptyOperator(task_id="t2").as_teardown(setups=s2)
    with s1 >> t1:
        w1 = EmptyOperator(task_id="w1")
        with s2 >> t2:
            w2 = EmptyOperator(task_id="w2")
    py = PythonOperator(task_id="py", python_callable=lambda: 1, op_kwargs={"x": a.output})

    @task
    def produce():
        return [1, 2]

    @task
    def consume(x, y):
        return x

    p = produce()
    consume.partial(y=p).expand(x=[1, 2])
    consume(x=p.map(lambda v: v + 1), y=None)
    q = produce()
    consume(x=p.zip(q), y=1)

    @task_group(group_id="tg", prefix_group_id=False)
    def unprefixed():
        EmptyOperator(task_id="in_tg")

    unprefixed() >> EmptyOperator(task_id="after_tg")
    with TaskGroup("empty") as empty:
        pass
    a >> empty >> EmptyOperator(task_id="after_empty")
'''


def test_misc():
    """Orphan operators joined by ``>>``, nested setup/teardown contexts (outer setup >> inner
    setup, inner teardown >> outer teardown), XComArgs in ``op_kwargs``, ``.map``/``.zip``,
    ``.partial().expand()`` of a task, an unprefixed ``@task_group``, an empty group in a chain."""
    delta = analyse("fx_misc.py", FX_MISC)
    assert shape(delta) == {
        'fx_misc': (
            {'a', 'after_empty', 'after_tg', 'consume', 'consume__1', 'consume__2', 'in_tg', 'orphan',
            'produce', 'produce__1', 'py', 's1', 's2', 't1', 't2', 'w1', 'w2'},
            {('a', 'after_empty'), ('a', 'orphan'), ('a', 'py'), ('in_tg', 'after_tg'), ('produce',
            'consume'), ('produce', 'consume__1'), ('produce', 'consume__2'), ('produce__1',
            'consume__2'), ('s1', 's2'), ('s1', 't1'), ('s1', 'w1'), ('s2', 't2'), ('s2', 'w2'), ('t2',
            't1'), ('w1', 't1'), ('w2', 't2')}),
    }
    assert delta.diagnostics == []


FX_ORPHANS = '''\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

first = EmptyOperator(task_id="first")
second = EmptyOperator(task_id="second")
third = EmptyOperator(task_id="third")
dag = DAG("fx_orphans", schedule=None)
first.dag = dag
first.set_downstream(second)
dag.add_task(third)
second >> third
'''


def test_orphans():
    """Operators made before their DAG: ``op.dag = dag``, ``dag.add_task``, and by linking."""
    delta = analyse("fx_orphans.py", FX_ORPHANS)
    assert shape(delta) == {
        'fx_orphans': (
            {'first', 'second', 'third'},
            {('first', 'second'), ('second', 'third')}),
    }
    assert delta.diagnostics == []


FX_CONFIG = '''\
import json
import os
from pathlib import Path

import yaml
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, chain

with open("include/sources.json") as f:
    config = json.load(f)

with DAG("fx_config_json", schedule=None):
    tasks = {s["name"]: EmptyOperator(task_id=f"load_{s['name']}") for s in config["sources"]}
    for s in config["sources"]:
        for dep in s["deps"]:
            tasks[dep] >> tasks[s["name"]]

spec = yaml.safe_load((Path(__file__).parent / "configs" / "dags.yaml").read_text())
for d in spec["dags"]:
    with DAG(d["id"], schedule=None):
        chain(*[EmptyOperator(task_id=t) for t in d["tasks"]])

with open(os.path.join(os.path.dirname(__file__), "configs", "dags.yaml")) as fh:
    again = yaml.safe_load(fh)
with DAG("fx_config_" + again["dags"][1]["id"], schedule=None):
    EmptyOperator(task_id="one")
'''
SOURCES_JSON = '''{"sources": [{"name": "orders", "deps": []}, {"name": "users", "deps": ["orders"]}]}
'''
DAGS_YAML = '''\
dags:
  - id: yaml_a
    tasks: [x, y]
  - id: yaml_b
    tasks: [z]
'''


def test_config_files_read_at_parse_time():
    """DAGs generated from the repository's JSON/YAML (``open`` from the project root,
    ``Path(__file__).parent / ...``, ``os.path.join(os.path.dirname(__file__), ...)``) are read as
    data, never run; the data files are part of the cache key."""
    files = {"dags/fx_config.py": FX_CONFIG, "include/sources.json": SOURCES_JSON,
             "dags/configs/dags.yaml": DAGS_YAML}
    delta = analyse_texts(files)
    assert shape(delta) == {
        "fx_config_json": ({"load_orders", "load_users"}, {("load_orders", "load_users")}),
        "fx_config_yaml_b": ({"one"}, set()),
        "yaml_a": ({"x", "y"}, {("x", "y")}),
        "yaml_b": ({"z"}, set()),
    }
    assert delta.diagnostics == []
    sources = {p: SourceFile.from_text(p, t) for p, t in files.items()}
    yaml_path = "dags/configs/dags.yaml"
    edited = {**sources, yaml_path: SourceFile.from_text(yaml_path, DAGS_YAML + "#")}
    analyzer = AirflowAnalyzer()
    dag_file = sources["dags/fx_config.py"]
    assert analyzer.context_fingerprint(dag_file, RepoContext("local/t", sources)) != \
        analyzer.context_fingerprint(dag_file, RepoContext("local/t", edited))


def test_dynamic_ids_become_patterns_with_a_diagnostic():
    """What stays unknown (an environment variable, a runtime list) is kept as a ``*`` pattern when
    part of the id is known, skipped when nothing is, and said in a diagnostic either way."""
    delta = analyse("dyn.py", (
        "import os\nfrom airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import "
        "EmptyOperator\n"
        "with DAG('dyn', schedule=None):\n"
        "    start = EmptyOperator(task_id='start')\n"
        "    for table in os.environ['TABLES'].split(','):\n"
        "        start >> EmptyOperator(task_id=f'load_{table}')\n"
        "    EmptyOperator(task_id=os.environ['WHOLE'])\n"
    ))
    assert shape(delta) == {"dyn": ({"start", "load_*"}, {("start", "load_*")})}
    assert [(d.code, d.line, d.severity) for d in delta.diagnostics] == [
        ("dynamic_task_id", 7, "warning"), ("dynamic_task_id", 8, "warning")]
    assert "load_*" in delta.diagnostics[0].message


def test_chain_of_lists_of_different_lengths_is_reported_not_guessed():
    delta = analyse("mismatch.py", (
        "from airflow.sdk import DAG, chain\nfrom airflow.providers.standard.operators.empty import "
        "EmptyOperator\n"
        "with DAG('mismatch', schedule=None):\n"
        "    a, b, c = [EmptyOperator(task_id=x) for x in 'abc']\n"
        "    chain([a, b], [c])\n"
    ))
    assert shape(delta) == {"mismatch": ({"a", "b", "c"}, set())}
    assert [(d.code, d.line) for d in delta.diagnostics] == [("chain_length_mismatch", 5)]


def test_enormous_dependency_sets_are_capped_with_a_diagnostic():
    """cross_downstream of 300 x 300 tasks would be 90,000 edges: stop at the bound, say so."""
    delta = analyse("huge.py", (
        "from airflow.sdk import DAG, cross_downstream\n"
        "from airflow.providers.standard.operators.empty import EmptyOperator\n"
        "with DAG('huge', schedule=None):\n"
        "    ups = [EmptyOperator(task_id=f'u{i}') for i in range(300)]\n"
        "    downs = [EmptyOperator(task_id=f'd{i}') for i in range(300)]\n"
        "    cross_downstream(ups, downs)\n"
    ))
    tasks, edges = shape(delta)["huge"]
    assert len(tasks) == 600
    assert len(edges) == MAX_EDGES
    assert [d.code for d in delta.diagnostics] == ["too_many_edges"]


def test_recursive_helpers_and_runaway_loops_stay_bounded():
    delta = analyse("loop.py", (
        "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import EmptyOperator\n"
        "def grow(n):\n"
        "    EmptyOperator(task_id=f'g{n}')\n"
        "    return grow(n + 1)\n"
        "with DAG('loop', schedule=None):\n"
        "    grow(0)\n"
        "    while True:\n"
        "        EmptyOperator(task_id='spin')\n"
    ))
    tasks, _ = shape(delta)["loop"]
    assert "spin" in tasks and "g0" in tasks and len(tasks) < 100
    assert [d.code for d in delta.diagnostics] == ["call_depth_capped"]


FACTORY = '''\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TaskGroup, task

SUFFIXES = ["raw", "clean"]


class LoadGroup(TaskGroup):
    def __init__(self, group_id, table, **kwargs):
        super().__init__(group_id=group_id, **kwargs)
        with self:
            steps = [EmptyOperator(task_id=f"{table}_{s}") for s in SUFFIXES]
            steps[0] >> steps[1]


@task
def notify(message):
    return message


def build(dag_id, tables):
    with DAG(dag_id, schedule=None) as dag:
        done = EmptyOperator(task_id="done")
        for t in tables:
            LoadGroup(f"load_{t}", table=t) >> done
        notify(done.output)
    return dag
'''

FX_IMPORTS = '''\
from airflow.sdk import chain
from include.factory import build, notify
from include import factory

build("fx_imports_sales", ["orders", "refunds"])

with factory.DAG("fx_imports_direct", schedule=None):
    factory.LoadGroup("only", table="users") >> notify("hi")
chain()
'''


def test_helpers_imported_from_the_repository():
    """A DAG factory, a TaskGroup subclass and a @task imported from the project's ``include/``
    (DagBag with the project root on the path) are interpreted like local code; the helper
    module's own DAGs are not this file's, and spans point at the call in the DAG file."""
    files = {"dags/fx_imports.py": FX_IMPORTS, "include/factory.py": FACTORY, "include/__init__.py": ""}
    delta = analyse_texts(files)
    assert shape(delta) == {
        "fx_imports_direct": (
            {"notify", "only.users_clean", "only.users_raw"},
            {("only.users_clean", "notify"), ("only.users_raw", "only.users_clean")}),
        "fx_imports_sales": (
            {"done", "load_orders.orders_clean", "load_orders.orders_raw", "load_refunds.refunds_clean",
             "load_refunds.refunds_raw", "notify"},
            {("done", "notify"), ("load_orders.orders_clean", "done"),
             ("load_orders.orders_raw", "load_orders.orders_clean"), ("load_refunds.refunds_clean", "done"),
             ("load_refunds.refunds_raw", "load_refunds.refunds_clean")}),
    }
    done = next(n for n in delta.nodes if n.key == "fx_imports_sales.done")
    assert (done.path, done.span) == ("dags/fx_imports.py", (5, 5))
    # the helper's blob is part of the DAG file's cache key
    sources = {p: SourceFile.from_text(p, t) for p, t in files.items()}
    ctx = RepoContext(repo_id="local/t", files=sources)
    changed = RepoContext(repo_id="local/t", files={
        **sources, "include/factory.py": SourceFile.from_text("include/factory.py", FACTORY + "\n# edit\n")})
    analyzer = AirflowAnalyzer()
    assert analyzer.context_fingerprint(sources["dags/fx_imports.py"], ctx) != analyzer.context_fingerprint(
        sources["dags/fx_imports.py"], changed)


def test_hostile_values_stay_small():
    """Doubling strings and lists, nested loops and huge format widths are never built."""
    delta = analyse("hostile.py", (
        "from airflow.sdk import DAG\n"
        "s, l = 'ab', [1]\n"
        "for i in range(5000):\n"
        "    s = s + s\n"
        "    l = l + l\n"
        "with DAG(f'{1:>999999999}'):\n    pass\n"
        "with DAG('{:>99999999}'.format(s)):\n    pass\n"
        "for i in range(5000):\n"
        "    for j in range(5000):\n"
        "        x = i\n"
    ))
    assert [(d.code, d.line) for d in delta.diagnostics] == [
        ("dynamic_dag_id", 6), ("dynamic_dag_id", 8), ("steps_capped", 11)]
    assert shape(delta) == {}


def test_sql_files_on_deployment_search_paths():
    """``template_searchpath`` given as the deployment's absolute path or built on AIRFLOW_HOME
    is mapped onto the repository, so the task still links to the tables its .sql file names."""
    delta = analyse_texts({
        "dags/load.py": (
            "from airflow.configuration import AIRFLOW_HOME\n"
            "from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator\n"
            "from airflow.sdk import DAG, dag\n"
            "@dag(template_searchpath=f'{AIRFLOW_HOME}/include/sql')\n"
            "def home():\n"
            "    SQLExecuteQueryOperator(task_id='q', conn_id='wh', sql='make.sql')\n"
            "home()\n"
            "with DAG('absolute', template_searchpath='/usr/local/airflow/include/sql'):\n"
            "    SQLExecuteQueryOperator(task_id='q', conn_id='wh', sql='make.sql')\n"),
        "include/sql/make.sql": "INSERT INTO mart.t SELECT id FROM raw.s",
    })
    t = "sql.table:default:"
    assert {e for e in edge_set(delta, "reads", "writes") if e[1].startswith("airflow.task")} == {
        ("reads", "airflow.task:home.q", f"{t}raw.s"),
        ("writes", "airflow.task:home.q", f"{t}mart.t"),
        ("reads", "airflow.task:absolute.q", f"{t}raw.s"),
        ("writes", "airflow.task:absolute.q", f"{t}mart.t")}
    assert delta.diagnostics == []


def test_dag_under_an_optional_import_is_kept_and_flagged():
    """``try: import k8s ... except ImportError: k8s = None`` then ``if k8s:`` — DagBag builds the
    DAG only where the package is installed; statically it is kept, with a diagnostic."""
    delta = analyse("opt.py", (
        "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import EmptyOperator\n"
        "try:\n    from kubernetes.client import models as k8s\nexcept ImportError:\n    k8s = None\n"
        "if k8s:\n"
        "    with DAG('needs_k8s', schedule=None):\n        EmptyOperator(task_id='pod')\n"
        "with DAG('always', schedule=None):\n    EmptyOperator(task_id='t')\n"
    ))
    assert shape(delta) == {"needs_k8s": ({"pod"}, set()), "always": ({"t"}, set())}
    assert [(d.code, d.line, d.severity) for d in delta.diagnostics] == [
        ("optional_import_dag", 8, "warning")]
    assert "k8s" in delta.diagnostics[0].message
