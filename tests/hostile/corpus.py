"""The hostile corpus for ``freshpoc mine`` and ``freshpoc analyse``, generated at test time.

Everything is built by this script under one folder (no binary is stored in the repository):

- ``outside/``: the canary (a file with a random token, plus a ``.sql``, a ``.yml``, a dbt
  package and a git config holding it) that no output may ever contain, since it is not part of
  any repository analysed; and ``secret/``, another repository with the token in a file, a
  commit message and an e-mail address (think: a private mirror in the cache);
- a handful of repositories, each holding many inputs of one class (a class is batched when one
  bad input cannot hide another's outcome): ``content`` (every analysis bomb, symlinks out of
  the repository, odd encodings, huge/deep/many files, hostile names, backtracking
  ``.gitattributes`` and a ``.git`` armed with hooks, filters, fsmonitor and friends that would
  create the trap marker), ``history`` (commits with impossible dates and idents), ``dbt_scale``
  (1,000 models), ``same/a/proj`` and ``same/b/proj``, one repository per ``.git`` indirection
  and a few broken ones;
- locations that are not repositories at all (``ext::``, ``--upload-pack=``, ``file://``,
  unreachable and blocked hosts), refused before git runs or failing in one line.

Each :class:`Input` says which run covers it and what must be recorded for it; the runner
(``runner.py``) executes the runs, the tests check every input.

    python tests/hostile/corpus.py DIR      # build the corpus in DIR and list the inputs
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.hostile.analysis_inputs import (  # noqa: E402
    OK_SQL,
    analysis_inputs,
    dag,
    dbt,
    laughs,
)

# --- what a test checks for an input ----------------------------------------------------------
REFUSED = "refused"  # both CLIs exit 2 with one `error:` line naming the reason
FLAGGED = "flagged"  # its files carry an analysis diagnostic or a mining skip reason
CONTAINED = "contained"  # nothing to record once defended; only the run-wide invariants
# Valid input whose cost is the machine's: analysed cleanly within the per-file time budget on a
# quiet machine, stopped by it on a loaded one and recorded as such; any other diagnostic fails.
BUDGETED = "budgeted"
BUDGET_CODES = frozenset({"timeout", "time_budget"})
GOOD = "good"  # not an attack on the analyser: its files must come out analysed, no diagnostic
LOGGED = "logged"  # a mining warning names it (gitattributes rules, clamped dates)
TRAPPED = "trapped"  # a program git or an analyzer could start; the trap marker stays absent


@dataclass
class Input:
    name: str
    cls: str  # the class, for the table
    what: str
    run: str  # the run (repository or location) that covers it
    expect: str  # one of the constants above
    paths: list[str] = field(default_factory=list)  # files of the run's repository it concerns
    good: list[str] = field(default_factory=list)  # neighbours that must still come out
    reason: str = ""  # for REFUSED / LOGGED: a substring the recorded reason must contain


@dataclass
class Run:
    """One location given to ``freshpoc mine`` and then ``freshpoc analyse``."""

    name: str
    location: str
    ok: bool  # both CLIs succeed (else: both refuse or fail with one line, exit 2)
    budget_s: float = 30.0  # wall time of mine + analyse together
    mine_args: list[str] = field(default_factory=list)
    analyse_args: list[str] = field(default_factory=list)


@dataclass(repr=False)
class Corpus:
    base: Path
    token: str
    marker: Path  # a trap creates it
    runs: dict[str, Run]
    inputs: list[Input]

    def outputs(self) -> list[Path]:
        return [self.base / "runs"]


def _git(*args: str, cwd: Path | None = None, data: bytes | None = None, raw: bool = False) -> Any:
    from freshpoc_tasks.mining._git import git_env

    out = subprocess.run(
        [
            "git",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "user.name=Hostile",
            "-c",
            "user.email=hostile@example.com",
            "-c",
            "init.defaultBranch=main",
            *args,
        ],
        cwd=cwd,
        input=data,
        capture_output=True,
        check=True,
        env=git_env(),
    )
    return out.stdout if raw else out.stdout.decode("utf-8", "replace").strip()


def work_tree(
    path: Path,
    files: dict[str | bytes, bytes],
    message: str = "c",
    links: dict[str, str] | None = None,
    attributes: bytes | None = None,
) -> Path:
    """A non-bare repository holding ``files`` (names as str or raw bytes) and symlinks
    ``links`` (path -> target) in one commit.

    ``attributes`` becomes the root ``.gitattributes`` through plumbing only: git's own
    wildmatch backtracks on the hostile patterns, and ``git add`` would evaluate them for every
    file (minutes of CPU); reading objects, as the miner does, never consults them.
    """
    path.mkdir(parents=True, exist_ok=True)
    _git("init", "-q", str(path))
    for name, data in files.items():
        target = Path(os.fsdecode(path)) / os.fsdecode(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for name, target_text in (links or {}).items():
        link = path / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target_text)
    _git("-C", str(path), "add", "-A")
    if attributes is None:
        _git("-C", str(path), "commit", "-qm", message)
        return path
    # the commit is made from trees, never through the index (see above)
    blob = _git("-C", str(path), "hash-object", "-w", "--stdin", data=attributes)
    tree = _git("-C", str(path), "write-tree")
    entries = _git("-C", str(path), "ls-tree", "-z", tree, raw=True).split(b"\0")
    entries = [e for e in entries if e] + [f"100644 blob {blob}\t.gitattributes".encode()]
    root = _git("-C", str(path), "mktree", "-z", data=b"\0".join(entries) + b"\0")
    commit = _git("-C", str(path), "commit-tree", root, "-m", message)
    _git("-C", str(path), "update-ref", "refs/heads/main", commit)
    return path


# --- the canary and the secret repository ------------------------------------------------------


def outside(base: Path, token: str) -> Path:
    out = base / "outside"
    (out / "pkg" / "models").mkdir(parents=True)
    (out / "canary.txt").write_text(f"{token}\n")
    (out / "canary.sql").write_text(f"select '{token}' as leaked\n")
    (out / "canary.yml").write_text(f"leaked: {token}\n")
    (out / "canary.py").write_text(f"LEAKED = '{token}'\n")
    (out / "pkg" / "dbt_project.yml").write_text(f"name: {token.replace('-', '_').lower()}\nversion: '1'\n")
    (out / "pkg" / "models" / "leak.sql").write_text(f"select '{token}' as leaked\n")
    return out


def secret_repo(base: Path, token: str) -> Path:
    secret = work_tree(base / "secret", {"secret.py": f"TOKEN = '{token}'\n".encode()}, message=token)
    _git("-C", str(secret), "repack", "-qad")
    return secret


# --- the content repository: analysis bombs and everything that holds --------------------------


def project_named(name: str) -> dict[str, bytes]:
    """:func:`dbt` with a project name of its own: models of same-named projects share ids."""
    files = dbt()
    files["dbt_project.yml"] = files["dbt_project.yml"].replace(b"name: p\n", f"name: {name}\n".encode())
    return files


def _content_files(
    out: Path, token: str, skip: frozenset[str] = frozenset(), run: str = "content"
) -> tuple[dict[str | bytes, bytes], list[Input]]:
    files: dict[str | bytes, bytes] = {}
    inputs: list[Input] = []

    def add(
        name: str,
        cls: str,
        what: str,
        expect: str,
        new: dict[str | bytes, bytes],
        paths: list[str] | None = None,
        good: list[str] | None = None,
        reason: str = "",
    ) -> None:
        if name in skip:
            return
        files.update(new)
        inputs.append(Input(name, cls, what, run, expect, paths or [], good or [], reason))

    # 1. the analysis inputs, each in a folder of its own
    for item in analysis_inputs():
        prefix = f"analysis/{item.name}/"
        cls = _CLASS_OF.get(item.name, "analysis bombs")
        targets = item.targets + _ALSO_FLAGGED.get(item.name, [])
        expect = FLAGGED if targets else CONTAINED
        add(
            item.name,
            cls,
            item.what,
            expect,
            {prefix + p: d for p, d in item.files.items()},
            [prefix + p for p in targets],
            [prefix + p for p in item.good],
        )

    # 2. more Jinja: bounded strings, lists, numbers, loops; escapes and reads of other files
    j = "jinja/"
    bombs = {
        "jinja_pow": ("`9 ** 999999999` (a number of a billion digits)", "{{ 9 ** 999999999 }}"),
        "jinja_range_list": ("`range(10**9) | list`", "{{ range(1000000000) | list | length }}"),
        "jinja_center": ("`'x' | center(2e9)`", "{{ 'x' | center(2000000000) }}"),
        "jinja_percent_format": ("`'%2000000000s' % 'x'`", "{{ '%2000000000s' % 'x' }}"),
        "jinja_ljust": ("`'x'.ljust(2e9)`", "{{ 'x'.ljust(2000000000) }}"),
        "jinja_join_repeat": ("`[('x' * 1e6)] * 1e4 | join`", "{{ ['x' * 1000000] * 10000 | join }}"),
        "jinja_dict_doubling": (
            "dict doubled by update in a loop",
            "{% set d = {'a': 'x' * 100000} %}{% for i in range(30) %}"
            "{% set _ = d.update({i ~ '': d | string}) %}{% endfor %}{{ d | length }}",
        ),
        "jinja_wordwrap": ("`wordwrap` on a 2e9 string", "{{ ('x ' * 1000000000) | wordwrap(3) }}"),
    }
    for name, (what, expr) in bombs.items():
        path = f"{j}{name}.sql"
        add(
            name,
            "Jinja memory/time bombs",
            what + " in a .sql file",
            FLAGGED,
            {path: f"select {expr} as c from t;\n".encode()},
            [path],
        )
    escapes = {
        "jinja_escape_mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "jinja_escape_globals": "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
        "jinja_escape_namespace": "{{ namespace.__init__.__globals__['os'].system('touch MARKER') }}",
        "jinja_escape_format": "{{ '{0.__class__.__init__.__globals__}'.format('') }}",
        "jinja_escape_attr_filter": "{{ '' | attr('__class__') | attr('__mro__') }}",
        "jinja_escape_import": "{% import 'os' as os %}{{ os.system('touch MARKER') }}",
        "jinja_include_canary": "{% include '" + str(out / "canary.txt") + "' %}",
        "jinja_include_relative": "{% include '../../outside/canary.txt' %}",
        "dbt_load_file_canary": "{{ load_file('" + str(out / "canary.txt") + "') }}",
        "dbt_env_var": "{{ env_var('FRESHPOC_HOSTILE_SECRET', 'unset') }}",
        "dbt_run_query": "{{ run_query('copy (select 1) to ''/tmp/x''') }}",
        "dbt_modules_os": "{{ modules.os.system('touch MARKER') if modules is defined else '' }}",
    }
    proj = "jinjadbt/"
    files.update({proj + p: d for p, d in dbt().items()})
    files[proj + "dbt_project.yml"] = files[proj + "dbt_project.yml"].replace(
        b"name: p\n", b"name: jinjadbt\n"
    )
    for name, expr in escapes.items():
        path = f"{proj}models/{name}.sql"
        add(
            name,
            "Jinja sandbox escapes, reads outside",
            f"`{expr[:60]}` in a dbt model",
            CONTAINED,
            {path: f"select {expr.replace('MARKER', '@MARKER@')} as c\n".encode()},
            [path],
        )

    # 3. YAML: bombs, depth, tags, dates git or Python cannot represent
    y = "yamls/"
    yaml_cases = {
        "yaml_python_tag": (
            "`!!python/object/apply:os.system` in dbt_project.yml vars",
            b"  x: !!python/object/apply:os.system ['touch @MARKER@']\n",
        ),
        "yaml_year_zero": ("a date in year 0 (`0000-01-01`) in vars", b"  d: 0000-01-01\n"),
        "yaml_feb_30": ("an impossible date (`2001-02-30`) in vars", b"  d: 2001-02-30\n"),
        "yaml_tz_overflow": (
            "a timestamp with offset +99:99 in vars",
            b"  t: 2001-12-14t21:59:43.10+99:99\n",
        ),
        "yaml_date_past_9999": (
            "a timestamp at 9999-12-31 23:59 -23:59 (past year 9999 in UTC)",
            b"  t: 9999-12-31 23:59:59 -23:59\n",
        ),
        "yaml_huge_float": (
            "a float `1e999999` and a 100,000-digit int in vars",
            b"  f: 1e999999\n  i: " + b"9" * 100_000 + b"\n",
        ),
        "yaml_flow_deep": (
            "a 5,000-deep flow sequence in vars",
            b"  deep: " + b"[" * 5_000 + b"]" * 5_000 + b"\n",
        ),
        "yaml_merge_bomb": (
            "merge keys (`<<`) chained 30 deep in vars",
            b"".join(
                f"  m{i}: &m{i}\n    <<: *m{i - 1}\n    k{i}: {i}\n".encode() for i in range(1, 30)
            ).replace(b"    <<: *m0\n", b""),
        ),
        "yaml_many_documents": ("100,000 YAML documents in dbt_project.yml", b"---\n" * 100_000),
        "yaml_nul_byte": ("a NUL byte inside dbt_project.yml", b"  x: a\x00b\n"),
    }
    for name, (what, tail) in yaml_cases.items():
        prefix = f"{y}{name}/"
        project = f"name: {name}\nversion: '1.0'\nprofile: p\nconfig-version: 2\nvars:\n".encode() + tail
        # valid YAML the safe loader reads as data (a tag's value as plain data, never a call)
        valid = name in ("yaml_python_tag", "yaml_date_past_9999", "yaml_merge_bomb")
        add(
            name,
            "YAML bombs, depth, tags, dates",
            what,
            CONTAINED if valid else FLAGGED,
            {**{prefix + p: d for p, d in dbt().items()}, prefix + "dbt_project.yml": project},
            [prefix + "dbt_project.yml"],
            [prefix + "models/ok.sql"],
        )
    for name, where, what in (
        ("yaml_year_zero_schema", "models/schema.yml", "a year-0 date in schema.yml"),
        ("yaml_laughs_sources", "models/sources.yml", "billion laughs in sources.yml"),
    ):
        prefix = f"{y}{name}/"
        body = (
            b"version: 2\nmodels:\n  - name: ok\n    meta:\n      d: 0000-01-01\n"
            if "zero" in name
            else b"version: 2\nsources:\n  - name: raw\n    meta:\n" + laughs(indent="      ")
        )
        add(
            name,
            "YAML bombs, depth, tags, dates",
            what,
            FLAGGED,
            {**{prefix + p: d for p, d in project_named(name).items()}, prefix + where: body},
            [prefix + where],
            [prefix + "models/ok.sql"],
        )
    prefix = f"{y}yaml_profiles_year_zero/"
    add(
        "yaml_profiles_year_zero",
        "YAML bombs, depth, tags, dates",
        "a year-0 date in profiles.yml",
        FLAGGED,
        {
            **{prefix + p: d for p, d in project_named("yaml_profiles_year_zero").items()},
            prefix + "profiles.yml": dbt()["profiles.yml"] + b"      when: 0000-01-01\n",
        },
        [prefix + "profiles.yml"],
        [prefix + "models/ok.sql"],
    )

    # 4. SQL that explodes parsers and lineage
    s = "sqlbombs/"
    sql_cases = {
        "sql_nested_subqueries": (
            "300 nested subqueries in a .sql file",
            "select id from " + "(select id from " * 300 + "t" + ") as s" * 300 + ";",
        ),
        "sql_deep_parens": ("10,000 nested parentheses", "select " + "(" * 10_000 + "1" + ")" * 10_000 + ";"),
        "sql_cte_chain": (
            "2,000 chained CTEs",
            "with c0 as (select 1 as a), "
            + ", ".join(f"c{i} as (select a from c{i - 1})" for i in range(1, 2_000))
            + " select a from c1999;",
        ),
        "sql_wide_select": (
            "a select of 20,000 columns",
            "select " + ", ".join(f"c{i}" for i in range(20_000)) + " from t;",
        ),
        "sql_in_list": (
            "an IN list of 200,000 values",
            "select a from t where a in (" + ", ".join(str(i) for i in range(200_000)) + ");",
        ),
        "sql_case_nesting": (
            "CASE nested 2,000 deep",
            "select " + "case when a then " * 2_000 + "1" + " end" * 2_000 + " from t;",
        ),
        "sql_empty_statements": ("300,000 empty statements", ";" * 300_000),
        "sql_unterminated": ("an unterminated string and comment", "select 'abc from t; /* never closed"),
        "sql_join_explosion": (
            "2,000 joins in one select",
            "select a.x from a" + "".join(f" join t{i} on t{i}.id = a.id" for i in range(2_000)) + ";",
        ),
    }
    # Valid SQL that only costs time: on a quiet machine (load 1.5) 2,000 joins, 20,000 columns,
    # 300,000 empty statements and a 200,000-value IN list were analysed within the per-file
    # budget, under load (19) each ran into it; both are right.
    budgeted = {"sql_join_explosion", "sql_wide_select", "sql_empty_statements", "sql_in_list"}
    for name, (what, text) in sql_cases.items():
        path = f"{s}{name}.sql"
        add(
            name,
            "SQL parser and lineage bombs",
            what,
            BUDGETED if name in budgeted else FLAGGED,
            {path: (text + "\n").encode()},
            [path],
            [f"{s}ok.sql"] if name == "sql_nested_subqueries" else [],
        )
    files[f"{s}ok.sql"] = OK_SQL

    # 5. Python and Airflow DAG files
    p = "pybombs/"
    tasks = "".join(f"    a{i} = EmptyOperator(task_id='a{i}')\n" for i in range(1_000))
    py_cases: dict[str, tuple[str, bytes, str]] = {
        "py_long_line": ("a 4 MB single-line expression", b"x = " + b"1 + " * 1_000_000 + b"1\n", FLAGGED),
        "py_huge_int": ("an int literal of 100,000 digits", b"x = " + b"9" * 100_000 + b"\n", FLAGGED),
        "py_fstring_nesting": (
            "f-strings nested 200 deep",
            b"x = " + b"f'{" * 200 + b"1" + b"}'" * 200 + b"\n",
            FLAGGED,
        ),
        "py_many_imports": (
            "50,000 import statements",
            b"".join(f"import m{i}\n".encode() for i in range(50_000)),
            FLAGGED,
        ),
        "py_decorators": (
            "a function under 20,000 decorators",
            b"@d\n" * 20_000 + b"def f():\n    pass\n",
            CONTAINED,
        ),
        "py_syntax_error": (
            "tabs and spaces mixed, unclosed bracket",
            b"def f(:\n\tif x:\n        y\n",
            FLAGGED,
        ),
        "dag_cross_downstream": (
            "cross_downstream of 1,000 x 1,000 tasks (1 M edges)",
            dag(
                tasks + "    from airflow.models.baseoperator import cross_downstream\n"
                "    L = [" + ", ".join(f"a{i}" for i in range(1_000)) + "]\n"
                "    cross_downstream(L, L)\n"
            ),
            FLAGGED,
        ),
        "dag_range_loop": (
            "a loop that would create 10^9 tasks",
            dag("    for i in range(1000000000):\n        EmptyOperator(task_id=f't{i}')\n"),
            CONTAINED,
        ),
        "dag_chain_5000": (
            "chain() of 5,000 tasks",
            dag(
                "    from airflow.models.baseoperator import chain\n"
                "    chain(*[EmptyOperator(task_id=f'c{i}') for i in range(5000)])\n"
                + "".join(f"    c{i} = EmptyOperator(task_id='c{i}')\n" for i in range(5_000))
                + "    chain("
                + ", ".join(f"c{i}" for i in range(5_000))
                + ")\n"
            ),
            CONTAINED,
        ),
        "dag_sql_canary": (
            "an operator whose sql= and template_searchpath point outside",
            dag(
                f"    SQLExecuteQueryOperator(task_id='q', sql='{out / 'canary.sql'}')\n"
                f"    SQLExecuteQueryOperator(task_id='r', sql='canary.sql')\n"
            ).replace(b"schedule=None", f"schedule=None, template_searchpath=['{out}']".encode()),
            CONTAINED,
        ),
        "pulumi_outside_main": (
            "Pulumi.yaml whose main is outside the repository",
            b"name: evil\nruntime: python\nmain: " + str(out).encode() + b"\n",
            CONTAINED,
        ),
    }
    for name, (what, data, expect) in py_cases.items():
        path = f"{p}{name}/Pulumi.yaml" if name.startswith("pulumi") else f"{p}{name}.py"
        cls = "Airflow DAG explosions" if name.startswith("dag") else "Python parser bombs"
        add(name, cls, what, expect, {path: data}, [path])

    # 6. dbt reaching outside the project or the repository
    d = "dbtout/"
    dbt_out = {
        "dbt_model_paths_outside": (
            "model-paths and macro-paths pointing outside the repository",
            f"model-paths: ['models', '../../outside', '{out}']\n"
            f"macro-paths: ['{out}']\npackages-install-path: '{out}'\n",
        ),
        "dbt_local_package_outside": ("packages.yml with a local package outside the repository", ""),
        "dbt_ref_traversal": ("ref('../../outside/canary') and source() with path traversal", ""),
    }
    for name, (what, extra) in dbt_out.items():
        prefix = f"{d}{name}/"
        new = {prefix + k: v for k, v in dbt().items()}
        new[prefix + "dbt_project.yml"] = (f"name: {name}\nversion: '1.0'\nprofile: p\n" + extra).encode()
        if name == "dbt_local_package_outside":
            new[prefix + "packages.yml"] = (
                f"packages:\n  - local: {out / 'pkg'}\n  - local: ../../outside/pkg\n".encode()
            )
        if name == "dbt_ref_traversal":
            new[prefix + "models/trav.sql"] = (
                b"select * from {{ ref('../../outside/canary') }} join "
                b"{{ source('../..', '" + str(out / "canary").encode() + b"') }}\n"
            )
        add(name, "reads outside the repository", what, CONTAINED, new, [], [prefix + "models/ok.sql"])

    # 7. symlinks out of the repository (git stores the target text; nothing may follow it)
    links = symlinks(out)
    for name, (path, target) in links.items():
        inputs.append(
            Input(
                name,
                "symlinks out of the repository",
                f"{path} -> {target[-40:]}",
                run,
                FLAGGED,
                [path],
                [],
                "symlink",
            )
        )
    # 8. encodings
    e = "enc/"
    enc = {
        "utf16_bom_python": ("UTF-16 with BOM", "a.py", "x = 'é'\n".encode("utf-16"), FLAGGED),
        "latin1_sql": ("Latin-1 bytes in SQL", "b.sql", "select 'café' from t;\n".encode("latin-1"), FLAGGED),
        "nul_in_yaml": ("NUL bytes in a schema.yml", "schema.yml", b"version: 2\x00\nmodels: []\n", FLAGGED),
        "surrogates_python": ("UTF-8-encoded surrogates", "c.py", b"x = '\xed\xa0\x80'\n", FLAGGED),
        "overlong_utf8_sql": ("overlong UTF-8 sequences", "d.sql", b"select '\xc0\xaf' from t;\n", FLAGGED),
        "utf8_bom_python": ("a UTF-8 BOM (valid)", "e.py", b"\xef\xbb\xbfimport os\n", GOOD),
        "crlf_python": ("CRLF and lone CR line ends (valid)", "f.py", b"import os\r\nx = 1\ry = 2\r\n", GOOD),
        "bidi_in_source": (
            "right-to-left overrides in identifiers and strings",
            "g.py",
            "s = 'abc\u202edef'\n# \u2066hidden\u2069\nimport os\n".encode(),
            GOOD,
        ),
    }
    for name, (what, fname, data, expect) in enc.items():
        add(
            name,
            "odd encodings, NULs, BOMs",
            what,
            expect,
            {e + fname: data},
            [e + fname] if expect == FLAGGED else [],
            [e + fname] if expect == GOOD else [],
        )
    # 9. huge, deep, many
    h = "huge/"
    add(
        "over_size_cap",
        "huge/deep/many files",
        "a 9 MiB .py (over every size cap)",
        FLAGGED,
        {h + "nine.py": b"x = 1\n" + b"# " + b"y" * (9 * 1024 * 1024) + b"\n"},
        [h + "nine.py"],
        [],
        "too_large",
    )
    add(
        "binary_named_sql",
        "huge/deep/many files",
        "binary bytes in a .sql file",
        FLAGGED,
        {h + "blob.sql": bytes(range(256)) * 64},
        [h + "blob.sql"],
        [],
        "binary",
    )
    deep = "/".join(["d"] * 120)
    add(
        "deep_directories",
        "huge/deep/many files",
        "a file 120 directories deep (valid)",
        GOOD,
        {f"{h}{deep}/x.py": b"import os\n"},
        [],
        [f"{h}{deep}/x.py"],
    )
    many = {f"{h}many/m{i:04}.py": f"import m{i}\n".encode() for i in range(2_000)}
    add(
        "many_files",
        "huge/deep/many files",
        "2,000 files in one folder (valid)",
        GOOD,
        many,
        [],
        [f"{h}many/m0000.py", f"{h}many/m1999.py"],
    )
    add(
        "long_file_name",
        "huge/deep/many files",
        "a 250-byte file name (valid)",
        GOOD,
        {h + "n" * 247 + ".py": b"import os\n"},
        [],
        [h + "n" * 247 + ".py"],
    )
    # 10. hostile names
    n = "names/"
    names = {
        "name_escape_sequence": "\x1b]0;owned\x07\x1b[2J.sql",
        "name_bidi_override": "\u202eyp.evil.py",
        "name_newline": "new\nline.py",
        "name_option_like": "--output=pwned.sql",
        "name_dash_rf": "-rf.py",
        "name_carriage_return": "over\rwrite.sql",
    }
    for name, fname in names.items():
        data = OK_SQL if fname.endswith(".sql") else b"import os\n"
        add(name, "control characters in file names", repr(fname), GOOD, {n + fname: data}, [], [n + fname])
    files[n.encode() + b"\xff\xfe.py"] = b"import os\n"
    inputs.append(
        Input(
            "name_not_utf8",
            "control characters in file names",
            "a file name that is not UTF-8",
            run,
            CONTAINED,
        )
    )
    return files, inputs


# files analysis_inputs.py leaves unchecked (it predates their diagnostics) that are recorded now
_ALSO_FLAGGED = {"yaml_laughs_pulumi": ["Pulumi.yaml"], "yaml_laughs_profiles": ["profiles.yml"]}

_CLASS_OF = {
    "jinja_mul_sql": "Jinja memory/time bombs",
    "jinja_mul_dbt": "Jinja memory/time bombs",
    "jinja_mul_operator": "Jinja memory/time bombs",
    "jinja_list_doubling": "Jinja memory/time bombs",
    "jinja_loop_sql": "Jinja memory/time bombs",
    "macro_top_level_loop": "dbt macro loops, recursion, scale",
    "jinja_recursive_macro": "dbt macro loops, recursion, scale",
    "dbt_ref_cycle": "dbt macro loops, recursion, scale",
    "yaml_laughs_project": "YAML bombs, depth, tags, dates",
    "yaml_laughs_profiles": "YAML bombs, depth, tags, dates",
    "yaml_laughs_schema": "YAML bombs, depth, tags, dates",
    "yaml_laughs_var": "YAML bombs, depth, tags, dates",
    "yaml_laughs_pulumi": "YAML bombs, depth, tags, dates",
    "yaml_deep_project": "YAML bombs, depth, tags, dates",
    "yaml_self_anchor": "YAML bombs, depth, tags, dates",
    "yaml_binary_tag": "YAML bombs, depth, tags, dates",
    "huge_python": "Python parser bombs",
    "deep_python": "Python parser bombs",
    "python_many_defs": "Python parser bombs",
    "python_top_level_code": "repository code must not run",
    "jinja_sandbox_escape": "Jinja sandbox escapes, reads outside",
    "dag_fanout": "Airflow DAG explosions",
    "sql_5mb": "SQL parser and lineage bombs",
    "sql_union_chain": "SQL parser and lineage bombs",
    "dbt_nested_subqueries": "SQL parser and lineage bombs",
    "undecodable_bytes": "odd encodings, NULs, BOMs",
    "control_chars_in_names": "control characters in file names",
}

# .gitattributes lines that would make a regex backtrack or raise, and the reason recorded
GITATTRIBUTES = {
    "attr_star_a_b": ("*a*a*a*a*a*a*a*a*a*a*a*a*b linguist-generated", "", CONTAINED),
    "attr_double_star_300": ("**/" * 300 + "*.gen linguist-generated", "", CONTAINED),
    "attr_reversed_range": ("x[z-a] linguist-vendored", "reversed range z-a", LOGGED),
    "attr_unclosed_bracket": ("y[ linguist-vendored", "unclosed '['", LOGGED),
    "attr_unknown_class": ("z[[:nope:]] linguist-vendored", "unknown character class", LOGGED),
    "attr_question_marks": ("?" * 2_000 + "*" * 2_000 + "q linguist-generated", "", CONTAINED),
    "attr_brackets_10k": ("[a]" * 10_000 + " linguist-generated", "", CONTAINED),
    "attr_trailing_backslash": ("trailing\\ linguist-generated", "", CONTAINED),
    "attr_filter_every_file": ("* filter=evil diff=evil merge=evil text eol=crlf ident", "", TRAPPED),
}

# Everything in .git/config (and beyond) that would start a program were it honoured.
GIT_TRAPS = {
    "git_fsmonitor": ("core.fsmonitor", "touch @MARKER@"),
    "git_hooks_path": ("core.hooksPath", "@HOOKS@"),
    "git_filter_smudge": ("filter.evil.smudge", "touch @MARKER@; cat"),
    "git_filter_clean": ("filter.evil.clean", "touch @MARKER@; cat"),
    "git_filter_process": ("filter.evil.process", "touch @MARKER@"),
    "git_diff_textconv": ("diff.evil.textconv", "touch @MARKER@; cat"),
    "git_diff_command": ("diff.evil.command", "touch @MARKER@"),
    "git_diff_external": ("diff.external", "touch @MARKER@"),
    "git_merge_driver": ("merge.evil.driver", "touch @MARKER@"),
    "git_ssh_command": ("core.sshCommand", "touch @MARKER@"),
    "git_pager": ("core.pager", "touch @MARKER@"),
    "git_editor": ("core.editor", "touch @MARKER@"),
    "git_askpass": ("core.askPass", "touch @MARKER@"),
    "git_credential_helper": ("credential.helper", "!touch @MARKER@"),
    "git_pack_objects_hook": ("uploadpack.packObjectsHook", "touch @MARKER@; git pack-objects"),
    "git_alternate_refs_command": ("core.alternateRefsCommand", "touch @MARKER@"),
    "git_proxy": ("core.gitProxy", "touch-@MARKER@"),
    "git_remote_ext": ("remote.origin.url", "ext::sh -c touch% @MARKER@"),
    "git_protocol_allow": ("protocol.allow", "always"),
    "git_include_outside": ("include.path", "@OUTSIDE@/evil.gitconfig"),
    "git_gpg_program": ("gpg.program", "touch @MARKER@"),
    "git_pre_upload_pack_hooks": ("", ""),  # hooks in .git/hooks, see arm()
}
HOOKS = (
    "pre-upload-pack",
    "post-checkout",
    "post-merge",
    "reference-transaction",
    "fsmonitor-watchman",
    "pre-commit",
    "post-rewrite",
    "push-to-checkout",
    "post-index-change",
    "pre-auto-gc",
)


def content_repo(
    base: Path, out: Path, token: str, marker: Path, skip: frozenset[str] = frozenset(), run: str = "content"
) -> tuple[Path, list[Input]]:
    files, inputs = _content_files(out, token, skip, run)
    attrs = "\n".join(line for line, _r, _e in GITATTRIBUTES.values()) + "\n"
    files["a" * 200 + ".txt"] = b"x\n"
    files["deep/" * 50 + "f.gen"] = b"g\n"
    files[".gitmodules"] = (
        b'[submodule "evil"]\n\tpath = evil\n\turl = ext::sh -c touch% '
        + str(marker).encode()
        + b"\n\tupdate = !touch "
        + str(marker).encode()
        + b"\n"
    )
    for name, (line, reason, expect) in GITATTRIBUTES.items():
        inputs.append(
            Input(name, "backtracking .gitattributes patterns", line[:60], run, expect, [], [], reason)
        )
    # symlinks are committed as what they are (git stores the target's text)
    links = dict(symlinks(out).values())
    repo = work_tree(base / run, files, links=links, attributes=attrs.encode())
    arm(repo / ".git", out, marker)
    for name, (key, _value) in GIT_TRAPS.items():
        what = f"{key} in .git/config" if key else "hooks in .git/hooks"
        inputs.append(Input(name, "hostile .git/config, hooks, filters", what, run, TRAPPED))
    inputs.append(
        Input(
            "gitmodules_ext_update",
            "hostile .git/config, hooks, filters",
            ".gitmodules with an ext:: url and update=!command",
            run,
            TRAPPED,
        )
    )
    return repo, inputs


def symlinks(out: Path) -> dict[str, tuple[str, str]]:
    """name -> (path in the repository, target): each points out of the repository or loops."""
    return {
        "symlink_absolute_canary": ("links/abs_canary.sql", str(out / "canary.sql")),
        "symlink_relative_escape": ("links/rel_canary.py", "../../outside/canary.py"),
        "symlink_etc_passwd": ("links/passwd.yml", "/etc/passwd"),
        "symlink_dir_outside": ("links/outside_dir", str(out)),
        "symlink_loop": ("links/loop.sql", "loop.sql"),
        "symlink_dbt_model": ("jinjadbt/models/linked.sql", str(out / "pkg" / "models" / "leak.sql")),
        "symlink_dbt_project": ("linkproj/dbt_project.yml", str(out / "pkg" / "dbt_project.yml")),
    }


def arm(git_dir: Path, out: Path, marker: Path) -> None:
    """Arm the trap after the repository is built, so that building it ran none of it."""
    hooks = git_dir / "hooks"
    hooks.mkdir(exist_ok=True)
    for hook in HOOKS:
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (hooks / hook).chmod(0o755)
    (out / "evil.gitconfig").write_text(f"[core]\n\tfsmonitor = touch {marker}\n\tpager = touch {marker}\n")
    subst = {"@MARKER@": str(marker), "@HOOKS@": str(hooks), "@OUTSIDE@": str(out)}
    for key, value in GIT_TRAPS.values():
        if not key:
            continue
        for k, v in subst.items():
            value = value.replace(k, v)
        _git("--git-dir", str(git_dir), "config", "--add", key, value)


# --- history: commits no date parser should trust ----------------------------------------------


def raw_commit(
    git_dir: Path,
    parents: list[str],
    ident: str,
    path: str,
    message: bytes = b"c\n",
    extra_headers: bytes = b"",
) -> str:
    """A commit object written byte for byte (fast-import and commit-tree refuse these)."""
    blob = _git(f"--git-dir={git_dir}", "hash-object", "-w", "--stdin", data=f"{path}\n".encode())
    base = _git(f"--git-dir={git_dir}", "ls-tree", parents[0]) if parents else ""
    entries = [line for line in base.splitlines() if line] + [f"100644 blob {blob}\t{path}"]
    tree = _git(f"--git-dir={git_dir}", "mktree", data=("\n".join(entries) + "\n").encode())
    body = f"tree {tree}\n".encode() + b"".join(f"parent {p}\n".encode() for p in parents)
    body += f"author {ident}\ncommitter {ident}\n".encode() + extra_headers + b"\n" + message
    sha = _git(
        f"--git-dir={git_dir}", "hash-object", "-t", "commit", "-w", "--literally", "--stdin", data=body
    )
    _git(f"--git-dir={git_dir}", "update-ref", "refs/heads/main", sha)
    return sha


BAD_COMMITS = {
    "date_year_33658": ("a commit dated year 33658", "A <a@example.com> 1000000000000 +0000", "clamped"),
    "date_missing": ("an ident without a date", "A <a@example.com>", "clamped"),
    "date_past_64_bits": (
        "a timestamp past 64 bits",
        "A <a@example.com> 99999999999999999999999 +0000",
        "clamped",
    ),
    "date_past_9999": ("a commit dated past year 9999", "A <a@example.com> 253402300800 +0000", "clamped"),
    "date_negative": ("a negative timestamp", "A <a@example.com> -99999999999 +0000", ""),
    "date_tz_overflow": ("a time-zone offset of +9999", "A <a@example.com> 1700000000 +9999", ""),
    "date_tz_garbage": ("a time-zone that is not a number", "A <a@example.com> 1700000000 +zz:zz", ""),
    "ident_no_email": ("an ident without an e-mail", "Nobody 1700000000 +0000", ""),
    "ident_control_chars": (
        "ESC sequences in an author name",
        "\x1b]0;owned\x07\x1b[2J <e@example.com> 1700000000 +0000",
        "",
    ),
    "ident_huge_name": ("a 100 KB author name", "N" * 100_000 + " <n@example.com> 1700000000 +0000", ""),
}


HISTORY_EXTRAS = {
    "message_not_utf8": (
        "a Latin-1 message with a bogus encoding header",
        b"caf\xe9 \x1b[2J\n",
        b"encoding x-bogus-42\n",
    ),
    "message_nul": ("a NUL byte in a commit message", b"a\x00b\n", b""),
    "message_huge": ("a 2 MB commit message", b"m" * 2_000_000 + b"\n", b""),
    "header_garbage": (
        "unknown headers and a gpgsig block",
        b"c\n",
        b"x-evil " + b"z" * 10_000 + b"\ngpgsig -----BEGIN-----\n garbage\n -----END-----\n",
    ),
}


def history_repo(base: Path) -> tuple[Path, list[Input]]:
    repo = work_tree(base / "history", {"first.txt": b"1\n"})
    git_dir = repo / ".git"
    parent = _git("-C", str(repo), "rev-parse", "HEAD")
    inputs = []
    for n, (name, (what, ident, reason)) in enumerate(BAD_COMMITS.items()):
        parent = raw_commit(git_dir, [parent], ident, f"f{n}.txt")
        inputs.append(
            Input(
                name,
                "bad commits (dates, idents)",
                what,
                "history",
                LOGGED if reason else CONTAINED,
                [f"f{n}.txt"],
                [],
                reason,
            )
        )
    for name, (what, message, headers) in HISTORY_EXTRAS.items():
        parent = raw_commit(
            git_dir, [parent], "B <b@example.com> 1700000001 +0000", f"{name}.txt", message, headers
        )
        inputs.append(Input(name, "bad commits (dates, idents)", what, "history", CONTAINED, [f"{name}.txt"]))
    # an octopus of 30 parents (all the same commit) touching 3,000 files
    blob = _git(f"--git-dir={git_dir}", "hash-object", "-w", "--stdin", data=b"x\n")
    base_tree = _git(f"--git-dir={git_dir}", "ls-tree", parent)
    entries = base_tree.splitlines() + [f"100644 blob {blob}\tbig{i}.txt" for i in range(3_000)]
    tree = _git(f"--git-dir={git_dir}", "mktree", data=("\n".join(entries) + "\n").encode())
    body = f"tree {tree}\n" + f"parent {parent}\n" * 30 + "author O <o@example.com> 1700000002 +0000\n"
    body += "committer O <o@example.com> 1700000002 +0000\n\noctopus\n"
    sha = _git(
        f"--git-dir={git_dir}",
        "hash-object",
        "-t",
        "commit",
        "-w",
        "--literally",
        "--stdin",
        data=body.encode(),
    )
    _git(f"--git-dir={git_dir}", "update-ref", "refs/heads/main", sha)
    inputs.append(
        Input(
            "octopus_30_parents",
            "bad commits (dates, idents)",
            "a merge of 30 identical parents adding 3,000 files",
            "history",
            CONTAINED,
        )
    )
    (repo / ".mailmap").write_text("")  # not committed: the miner reads the committed one only
    return repo, inputs


# --- repositories that borrow another's objects ------------------------------------------------


INDIRECTIONS = {  # name -> (what, a word the refusal must contain)
    "gitdir_file": ("a `gitdir:` file pointing at another repository", "gitdir"),
    "dotgit_symlink": ("`.git` a symlink to another repository", "symlink"),
    "commondir": ("`commondir` naming another repository", "commondir"),
    "alternates": ("`objects/info/alternates` borrowing another store", "alternates"),
    "objects_symlink": ("a symlinked `objects` folder", "symlink"),
    "pack_symlink": ("a symlinked pack file in a bare repository", "symlink"),
    "dotgit_in_dotgit": ("a `.git` file inside `.git`", ".git"),
    "refs_symlink": ("a symlinked `refs/heads` folder", "symlink"),
    "http_alternates": ("`objects/info/http-alternates`", "alternates"),
    "promisor_remote": ("a partial clone whose promisor remote is another repository", "promisor"),
}


def indirections(base: Path, secret: Path) -> dict[str, Path]:
    """name -> repository borrowing ``secret``'s objects; each must be refused."""
    d = base / "indirect"
    d.mkdir()
    cases: dict[str, Path] = {}
    gitfile = d / "gitfile"
    gitfile.mkdir()
    (gitfile / ".git").write_text(f"gitdir: {secret / '.git'}\n")
    cases["gitdir_file"] = gitfile
    link = d / "dotgit-link"
    link.mkdir()
    (link / ".git").symlink_to(secret / ".git")
    cases["dotgit_symlink"] = link
    common = work_tree(d / "commondir", {"ok.py": b"x = 1\n"})
    (common / ".git" / "commondir").write_text(str(secret / ".git") + "\n")
    cases["commondir"] = common
    alt = work_tree(d / "alternates", {"ok.py": b"x = 1\n"})
    (alt / ".git" / "objects" / "info" / "alternates").write_text(str(secret / ".git" / "objects") + "\n")
    cases["alternates"] = alt
    objs = work_tree(d / "objects-link", {"ok.py": b"x = 1\n"})
    shutil.rmtree(objs / ".git" / "objects")
    (objs / ".git" / "objects").symlink_to(secret / ".git" / "objects")
    cases["objects_symlink"] = objs
    bare = d / "pack-link.git"
    _git("clone", "-q", "--bare", "--no-local", str(secret), str(bare))
    pack = next((bare / "objects" / "pack").glob("*.pack"))
    pack.unlink()
    pack.symlink_to(next((secret / ".git" / "objects" / "pack").glob("*.pack")))
    cases["pack_symlink"] = bare
    nested = work_tree(d / "nested", {"ok.py": b"x = 1\n"})
    (nested / ".git" / ".git").write_text(f"gitdir: {secret / '.git'}\n")
    cases["dotgit_in_dotgit"] = nested
    refs = work_tree(d / "refs-link", {"ok.py": b"x = 1\n"})
    shutil.rmtree(refs / ".git" / "refs" / "heads")
    (refs / ".git" / "refs" / "heads").symlink_to(secret / ".git" / "refs" / "heads")
    cases["refs_symlink"] = refs
    http = work_tree(d / "http-alternates", {"ok.py": b"x = 1\n"})
    (http / ".git" / "objects" / "info" / "http-alternates").write_text(f"file://{secret}/.git/objects\n")
    cases["http_alternates"] = http
    # a partial clone whose missing object git would fetch from its promisor remote: the
    # secret repository, over file:// (an allowed transport)
    promisor = d / "promisor"
    promisor.mkdir()
    _git("init", "-q", str(promisor))
    leak = _git("-C", str(secret), "rev-parse", "HEAD:secret.py")
    tree = _git(
        f"--git-dir={promisor / '.git'}",
        "mktree",
        "--missing",
        data=f"100644 blob {leak}\tleak.py\n".encode(),
    )
    commit = _git(f"--git-dir={promisor / '.git'}", "commit-tree", tree, "-m", "c")
    _git(f"--git-dir={promisor / '.git'}", "update-ref", "refs/heads/main", commit)
    for key, value in (
        ("core.repositoryformatversion", "1"),
        ("extensions.partialClone", "evil"),
        ("remote.evil.url", f"file://{secret}"),
        ("remote.evil.promisor", "true"),
    ):
        _git(f"--git-dir={promisor / '.git'}", "config", key, value)
    cases["promisor_remote"] = promisor
    return cases


BROKEN = {  # name -> (location, what, a word the one-line error must contain)
    "git_fail_unreachable": (
        "https://127.0.0.1:9/nobody/nothing.git",
        "an unreachable remote",
        "cannot clone",
    ),
    "git_fail_blocked_host": ("ssh://git@blocked.invalid/x/y.git", "a host that does not resolve", "resolve"),
    "git_fail_git_protocol": ("git://127.0.0.1:9/x.git", "git:// to a closed port", "unable to connect"),
    "git_fail_not_a_repo": ("@BASE@/broken/plain", "a plain folder", "not a git repository"),
    "git_fail_missing": ("@BASE@/broken/missing", "a path that does not exist", "not a directory"),
    "git_fail_a_file": ("@BASE@/broken/file", "a regular file", "not a directory"),
    "git_fail_empty_repo": ("@BASE@/broken/empty", "a repository without commits", "does not name a commit"),
}
REFS = {  # name -> (--ref value, what, reason)
    "ref_option_upload_pack": ("--upload-pack=touch @MARKER@", "a --ref that is a git option", "invalid ref"),
    "ref_option_output": ("--output=@MARKER@", "a --ref that would write a file", "invalid ref"),
    "ref_missing": ("no-such-branch", "a --ref that does not exist", "does not name a commit"),
}
URLS = {  # name -> (location, reason)
    "url_ext_sh": ("ext::sh -c touch% @MARKER@", "remote-helper syntax"),
    "url_ext_upper": ("EXT::sh -c touch% @MARKER@", "remote-helper syntax"),
    "url_fd": ("fd::0", "remote-helper syntax"),
    "url_helper": ("evil::https://example.com/x", "remote-helper syntax"),
    "url_upload_pack_option": ("--upload-pack=touch @MARKER@", "command-line option"),
    "url_config_option": ("-c core.sshCommand=touch @MARKER@", "command-line option"),
    "url_ssh_proxy": ("ssh://-oProxyCommand=touch%20@MARKER@/x", "host name"),
    "url_ssh_user_option": ("ssh://-oProxyCommand=x@host/x", "user name looks like"),
    "url_scp_option_host": ("-oProxyCommand=touch:@MARKER@", "command-line option"),
    "url_scp_option_path": ("git@host:--upload-pack=touch", "command-line option"),
    "url_file_scheme": ("file://@SECRET@", "scheme 'file' is not allowed"),
    "url_file_scheme_git": ("file://@SECRET@/.git", "scheme 'file' is not allowed"),
    "url_http_plain": ("http://127.0.0.1:9/x.git", "scheme 'http' is not allowed"),
    "url_https_password": ("https://user:hunter2-secret@127.0.0.1:9/x.git", "credentials"),
    "url_control_chars": ("https://127.0.0.1:9/x\n.git", "control characters"),
    "url_bad_port": ("https://127.0.0.1:99999999/x.git", "port"),
    "url_no_path": ("https://127.0.0.1:9/", "no repository path"),
    "url_path_option": ("https://127.0.0.1:9/--upload-pack=touch", "command-line option"),
    "url_bare_word": ("secret", "explicit local path"),
    "url_home_tilde_user": ("~root/.ssh", "explicit local path"),
}


def input_names() -> list[str]:
    """Every input's name without building anything on disk (for pytest's parametrisation)."""
    _files, content = _content_files(Path("/nonexistent"), "")
    return [
        *(i.name for i in content),
        *GITATTRIBUTES,
        *GIT_TRAPS,
        "gitmodules_ext_update",
        *BAD_COMMITS,
        *HISTORY_EXTRAS,
        "octopus_30_parents",
        "dbt_1000_models",
        "same_named_folders",
        *INDIRECTIONS,
        *BROKEN,
        *REFS,
        *URLS,
    ]


# Inputs that run into a per-file time budget (20 s each in the pipeline's default config) or
# make the snapshot large: left out of the pipeline's repository, which must stay quick.
SLOW = frozenset(
    {
        "dag_chain_5000",
        "dag_cross_downstream",
        "dag_fanout",
        "dag_range_loop",
        "jinja_loop_sql",
        "huge_python",
        "py_long_line",
        "py_many_imports",
        "python_many_defs",
        "sql_5mb",
        "sql_cte_chain",
        "sql_empty_statements",
        "sql_in_list",
        "sql_join_explosion",
        "sql_wide_select",
        "many_files",
        "macro_top_level_loop",
        "over_size_cap",
        "yaml_many_documents",
        "deep_python",
        "sql_union_chain",
        "jinja_recursive_macro",
        "jinja_dict_doubling",
        "jinja_wordwrap",
        "sql_case_nesting",
    }
)


def build_pipeline_repo(base: Path) -> Corpus:
    """One repository holding every quick content input (not :data:`SLOW`) and the armed
    ``.git``, for the pipeline's integration test; its only run is ``pipeline``."""
    token = f"FRESHPOC-CANARY-{uuid.uuid4().hex}"
    marker = base / "pwned"
    out = outside(base, token)
    repo, inputs = content_repo(base, out, token, marker, skip=SLOW, run="pipeline")
    return Corpus(base, token, marker, {"pipeline": Run("pipeline", str(repo), True)}, inputs)


# --- the corpus --------------------------------------------------------------------------------


def build(base: Path) -> Corpus:
    """Build every repository and location under ``base`` (an empty folder)."""
    token = f"FRESHPOC-CANARY-{uuid.uuid4().hex}"
    marker = base / "pwned"
    out = outside(base, token)
    secret = secret_repo(base, token)
    runs: dict[str, Run] = {}
    inputs: list[Input] = []

    content, content_inputs = content_repo(base, out, token, marker)
    runs["content"] = Run("content", str(content), True, budget_s=150.0)
    inputs += content_inputs

    history, history_inputs = history_repo(base)
    runs["history"] = Run("history", str(history), True, budget_s=40.0)
    inputs += history_inputs

    scale = base / "dbt_scale"
    models = {
        f"models/m{i:04}.sql": (
            f"select id from {{{{ ref('m{i - 1:04}') }}}}\n" if i else "select 1 as id\n"
        ).encode()
        for i in range(1_000)
    }
    work_tree(scale, {**dbt(), "dbt_project.yml": b"name: scale\nversion: '1.0'\nprofile: p\n", **models})
    runs["dbt_scale"] = Run("dbt_scale", str(scale), True, budget_s=60.0)
    inputs.append(
        Input(
            "dbt_1000_models",
            "dbt macro loops, recursion, scale",
            "1,000 chained one-line models (linear cost)",
            "dbt_scale",
            GOOD,
            [],
            ["models/m0000.sql", "models/m0999.sql"],
        )
    )

    for side in ("a", "b"):
        path = work_tree(base / "same" / side / "proj", {"m.py": f"SIDE = '{side}'\n".encode()})
        runs[f"same_{side}"] = Run(f"same_{side}", str(path), True)
    inputs.append(
        Input(
            "same_named_folders",
            "same-named folders",
            "two repositories in …/a/proj and …/b/proj",
            "same_a",
            CONTAINED,
            reason="repo ids differ",
        )
    )

    for name, path in indirections(base, secret).items():
        what, reason = INDIRECTIONS[name]
        runs[name] = Run(name, str(path), False)
        inputs.append(Input(name, "reads of another repository", what, name, REFUSED, reason=reason))

    empty = base / "broken" / "empty"
    empty.mkdir(parents=True)
    _git("init", "-q", str(empty))
    (base / "broken" / "plain").mkdir()
    (base / "broken" / "file").write_text("not a repository\n")
    good = work_tree(base / "broken" / "good", {"ok.py": b"x = 1\n"})
    subst = {"@MARKER@": str(marker), "@SECRET@": str(secret), "@BASE@": str(base)}

    def fill(text: str) -> str:
        for k, v in subst.items():
            text = text.replace(k, v)
        return text

    for name, (loc, what, reason) in BROKEN.items():
        runs[name] = Run(name, fill(loc), False)
        inputs.append(Input(name, "git failures", what, name, REFUSED, reason=reason))
    for name, (ref, what, reason) in REFS.items():
        runs[name] = Run(
            name, str(good), False, mine_args=[f"--ref={fill(ref)}"], analyse_args=[f"--ref={fill(ref)}"]
        )
        inputs.append(Input(name, "URL and option injection", what, name, REFUSED, reason=reason))
    for name, (loc, reason) in URLS.items():
        runs[name] = Run(name, fill(loc), False)
        inputs.append(Input(name, "URL and option injection", repr(loc)[:70], name, REFUSED, reason=reason))
    return Corpus(base, token, marker, runs, inputs)


if __name__ == "__main__":
    corpus = build(Path(sys.argv[1]))
    for item in corpus.inputs:
        print(f"{item.cls:40} {item.name:32} {item.run:24} {item.expect}")
    print(len(corpus.inputs), "inputs in", len(corpus.runs), "runs")
