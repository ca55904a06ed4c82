"""Hostile inputs for the analysis stage, generated at test time (nothing binary is stored).

Each input is a tiny repository (path -> bytes) built to hurt one analysis step: Jinja that
asks for gigabytes, YAML alias bombs and cycles, files that parse into millions of nodes, a DAG
whose dependencies explode quadratically, nesting past every recursion limit, a loop that never
ends, a link step that one model breaks. ``targets`` are the files that must come out recorded
with a reason (a diagnostic on that path); ``good`` are files next to them whose analysis must
still come out; ``contained`` inputs only have to cost themselves (there may be nothing wrong
to record once the analyzer defends itself, e.g. a ``!!binary`` value read as its text).

    python tests/hostile/analysis_inputs.py OUT_DIR   # writes one folder per input
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = b"name: p\nversion: '1.0'\nprofile: p\nconfig-version: 2\n"
PROFILES = b"p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: p.duckdb\n"
OK_MODEL = b"select 1 as id, 'a' as name\n"


@dataclass
class HostileInput:
    name: str
    what: str  # the class of attack, for the table
    files: dict[str, bytes]
    targets: list[str] = field(default_factory=list)
    good: list[str] = field(default_factory=list)


def laughs(levels: int = 9, indent: str = "", width: int = 10) -> bytes:
    """The "billion laughs": level i aliases level i-1 ``width`` times."""
    lines = [f"{indent}a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"{indent}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return ("\n".join(lines) + "\n").encode()


def dbt(files: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """A small dbt project (duckdb profile, one good model) with ``files`` added or replaced."""
    return {"dbt_project.yml": PROJECT, "profiles.yml": PROFILES, "models/ok.sql": OK_MODEL, **(files or {})}


def dag(body: str) -> bytes:
    return ("from airflow import DAG\nfrom airflow.providers.common.sql.operators.sql import "
            "SQLExecuteQueryOperator\nfrom airflow.operators.empty import EmptyOperator\n\n"
            f"with DAG('hostile', schedule=None):\n{body}").encode()


def fanout_dag(n: int = 1_500) -> bytes:
    tasks = "".join(f"    t{i} = EmptyOperator(task_id='t{i}')\n" for i in range(n))
    return dag(tasks + "    L = [" + ", ".join(f"t{i}" for i in range(n)) + "]\n    L >> L\n")


def huge_python(limit: int = 8 * 1024 * 1024 - 64 * 1024) -> bytes:
    row = b"    (1, 2.5, 'a', None, x, [y]),\n"
    return b"x = y = 0\nrows = [\n" + row * ((limit - 64) // len(row)) + b"]\n"


def nested_subqueries(depth: int = 300) -> bytes:
    sql = "select id from " + "(select id from " * depth + "{{ ref('ok') }}" + ") as s" * depth
    return (sql + "\n").encode()


MUL = "{{ 'x' * 2000000000 }}"
DOUBLING = "{% set ns = namespace(x=[1]) %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}"
NESTED_LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
CENTS = "{% macro cents(c) %}({{ c }} / 100){% endmacro %}"
OK_SQL = b"select a from t;\n"
OK_DAG = dag("    EmptyOperator(task_id='fine')\n")
REF_OK = b"select id from {{ ref('ok') }}\n"
VARS = PROJECT + b"vars:\n"
OK = ["models/ok.sql"]
CANARY = "/tmp/freshpoc-hostile-analysis-canary"  # must never exist after a run
ESCAPE = ("{{ ''.__class__.__mro__[1].__subclasses__() }}{{ cycler.__init__.__globals__.os.system("
          f"'touch {CANARY}') }}}}{{{{ self._TemplateReference__context.cycler.__init__.__globals__ }}}}")
SCHEMA_META = b"version: 2\nmodels:\n  - name: ok\n    meta:\n"
VAR_MODEL = b"select '{{ var(\"a9\") }}' as c\n"


def analysis_inputs() -> list[HostileInput]:
    """Every input; dbt projects are named after their input so that, analysed together in
    one repository, their models keep distinct ids."""
    items = _inputs()
    for item in items:
        project = item.files.get("dbt_project.yml")
        if project is not None:
            item.files["dbt_project.yml"] = project.replace(b"name: p\n", f"name: {item.name}\n".encode(), 1)
    return items


def _inputs() -> list[HostileInput]:
    h = HostileInput
    return [
        h("jinja_mul_sql", "Jinja `'x' * 2e9` in a .sql file",
          {"etl/boom.sql": f"select {MUL} as c from t;\n".encode(), "etl/ok.sql": OK_SQL},
          ["etl/boom.sql"], ["etl/ok.sql"]),
        h("jinja_mul_dbt", "Jinja `'x' * 2e9` in a dbt model",
          dbt({"models/boom.sql": f"select {MUL} as c\n".encode()}), ["models/boom.sql"], OK),
        h("jinja_mul_operator", "Jinja `'x' * 2e9` in an operator's sql=",
          {"dags/d.py": dag(f"    SQLExecuteQueryOperator(task_id='q', sql=\"select {MUL}\")\n"),
           "dags/ok.py": OK_DAG}, [], ["dags/ok.py"]),
        h("jinja_list_doubling", "Jinja list doubled 40 times (dbt model)",
          dbt({"models/boom.sql": f"{DOUBLING}select {{{{ ns.x | length }}}} as n\n".encode()}),
          ["models/boom.sql"], OK),
        h("jinja_loop_sql", "Jinja 10^10 loop iterations in a .sql file",
          {"etl/loop.sql": f"select 1 {NESTED_LOOP} from t;\n".encode(), "etl/ok.sql": OK_SQL},
          ["etl/loop.sql"], ["etl/ok.sql"]),
        h("macro_top_level_loop", "dbt macro file with an endless top-level loop",
          dbt({"macros/loop.sql": (NESTED_LOOP + CENTS).encode(),
               "models/b.sql": b"select {{ cents('id') }} as id from {{ ref('ok') }}\n",
               "models/c.sql": b"select {{ cents('id') }} as id from {{ ref('b') }}\n"}),
          [], [*OK, "models/b.sql", "models/c.sql"]),
        h("yaml_laughs_project", "YAML billion laughs in dbt_project.yml vars",
          dbt({"dbt_project.yml": VARS + laughs(indent="  ")}), ["dbt_project.yml"], OK),
        h("yaml_laughs_profiles", "YAML billion laughs in profiles.yml",
          dbt({"profiles.yml": PROFILES + laughs()}), [], OK),
        h("yaml_laughs_schema", "YAML billion laughs in schema.yml (model meta)",
          dbt({"models/schema.yml": SCHEMA_META + laughs(indent="      ")}),
          ["models/schema.yml"], OK),
        h("yaml_laughs_var", "YAML billion laughs reached through var()",
          dbt({"dbt_project.yml": VARS + laughs(indent="  "), "models/v.sql": VAR_MODEL}),
          ["dbt_project.yml", "models/v.sql"], OK),
        h("yaml_laughs_pulumi", "YAML billion laughs in Pulumi.yaml",
          {"Pulumi.yaml": b"name: x\nruntime: python\n" + laughs(), "__main__.py": b"import pulumi\n"},
          [], ["__main__.py"]),
        h("yaml_deep_project", "5,000-deep dbt_project.yml",
          dbt({"dbt_project.yml": VARS + b"  deep: " + b"- " * 5_000 + b"v\n"}), ["dbt_project.yml"], OK),
        h("yaml_self_anchor", "self-referencing YAML anchor in vars",
          dbt({"dbt_project.yml": PROJECT + b"vars: &v\n  self: *v\n"}), ["dbt_project.yml"], OK),
        h("yaml_binary_tag", "!!binary (not UTF-8) value in vars",
          dbt({"dbt_project.yml": VARS + b"  blob: !!binary //79/A==\n"}), [], OK),
        h("huge_python", "7.9 MB .py under the 8 MiB cap",
          {"big.py": huge_python(), "ok.py": b"def f():\n    return 1\n"}, ["big.py"], ["ok.py"]),
        h("deep_python", "Python nested 100,000 deep",
          {"deep.py": b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
           "neg.py": b"x = " + b"-" * 100_000 + b"1\n", "ok.py": b"import os\n"},
          ["deep.py", "neg.py"], ["ok.py"]),
        h("dag_fanout", "DAG with L >> L over 1,500 tasks",
          {"dags/fan.py": fanout_dag(), "dags/ok.py": OK_DAG}, ["dags/fan.py"], ["dags/ok.py"]),
        h("sql_5mb", "5 MB of SQL statements",
          {"etl/big.sql": b"insert into big.t (a, b) values (1, 'two');\n" * 120_000, "etl/ok.sql": OK_SQL},
          ["etl/big.sql"], ["etl/ok.sql"]),
        h("dbt_nested_subqueries", "dbt model with 300 nested subqueries (link step)",
          dbt({"models/deep.sql": nested_subqueries(), "models/b.sql": REF_OK,
               "models/c.sql": b"select id from {{ ref('b') }}\n"}),
          [], [*OK, "models/b.sql", "models/c.sql"]),
        h("jinja_sandbox_escape", "Jinja sandbox escapes that would write a canary file",
          {"etl/esc.sql": f"select {ESCAPE} as c from t;\n".encode(), "etl/ok.sql": OK_SQL,
           **{f"dbt/{p}": t for p, t in dbt({"models/esc.sql": f"select {ESCAPE} as c\n".encode()}).items()}},
          [], ["etl/ok.sql", "dbt/models/ok.sql"]),
        h("python_top_level_code", "Python whose top-level code would write a canary file",
          {"evil.py": f"open({CANARY!r}, 'w').write('ran')\nimport os\nos.system('touch {CANARY}')\n"
                      .encode(),
           "dags/evil.py": dag(f"    open({CANARY!r}, 'w').write('ran')\n")}, [], ["evil.py"]),
        h("jinja_recursive_macro", "dbt macro that calls itself forever",
          dbt({"macros/r.sql": b"{% macro r(n) %}{{ r(n) }}{% endmacro %}",
               "models/r.sql": b"select {{ r(1) }} as c\n"}), ["models/r.sql"], OK),
        h("dbt_ref_cycle", "dbt models that ref each other in a cycle",
          dbt({"models/a.sql": b"select id from {{ ref('b') }}\n",
               "models/b.sql": b"select id from {{ ref('a') }}\n"}),
          [], OK),
        h("python_many_defs", "Python file with 30,000 functions (60,000 nodes and edges)",
          {"many.py": b"".join(f"def f{i}():\n    pass\n".encode() for i in range(30_000)),
           "ok.py": b"import os\n"}, ["many.py"], ["ok.py"]),
        h("sql_union_chain", "SQL with 5,000 UNION ALLs",
          {"etl/u.sql": b"select 1 as a" + b" union all select 1" * 5_000 + b";\n", "etl/ok.sql": OK_SQL},
          [], ["etl/ok.sql"]),
        h("undecodable_bytes", "NUL bytes and invalid UTF-8 in source files",
          {"bin.py": b"import os\x00\xff\xfe\n", "bad.sql": b"select \xff\xfe from t;\n",
           "ok.py": b"import os\n"},
          ["bin.py", "bad.sql"], ["ok.py"]),
        h("control_chars_in_names", "control characters in file names",
          {"etl/\x1b[31mred\x07.sql": OK_SQL, "etl/tab\there.py": b"import os\n"},
          [], ["etl/\x1b[31mred\x07.sql", "etl/tab\there.py"]),
    ]


def write(out: Path) -> list[Path]:
    """One folder per input under ``out`` (file names kept byte for byte)."""
    written = []
    for item in analysis_inputs():
        root = out / item.name
        for rel, data in item.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        written.append(root)
    return written


if __name__ == "__main__":
    for root in write(Path(sys.argv[1])):
        print(root)
