"""Every ``freshpoc`` command from a plain shell against the running stack.

A user types ``freshpoc graph proposals`` in a terminal: no ``AIRFLOW_*`` variable, no
``AIRFLOW_CONN_*``, not even the checkout as working directory. Each command must answer, or
say in one line what is wrong — never end in a traceback. The commands are discovered from the
parser :func:`freshpoc_tasks.cli.main.build_parser` builds from ``COMMANDS``, so a new command
or verb fails this test until its read-only form is written down in :data:`READ_ONLY`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from freshpoc_tasks.cli.main import COMMANDS, build_parser
from freshpoc_tasks.stack.examples import materialise_example

ROOT = Path(__file__).resolve().parents[2]
FRESHPOC = str(Path(sys.executable).with_name("freshpoc"))
HELP = ("--help",)  # commands that only change things: their read-only form is their help
# (command, verb) -> (arguments after them, exit codes that count as an answer). {tmp}, {repo}
# and {graph} are a scratch folder, a small git repository and a local graph made by `report`.
READ_ONLY: dict[tuple[str, ...], tuple[tuple[str, ...], set[int]]] = {
    ("report",): (("{repo}", "--out", "{tmp}/report", "--quiet"), {0}),
    ("node",): (("jaffle_shop.customers", "--graph", "{graph}"), {0}),
    ("lineage",): (("sql.column:default:jaffle_shop.main.customers.lifetime_value", "--graph", "{graph}",
                    "--up"), {0}),
    ("deps",): (("jaffle_shop.customers", "--graph", "{graph}"), {0}),
    ("mcp",): (("--graph", "{graph}", "--check"), {0}),
    ("stack", "up"): (HELP, {0}),
    ("stack", "down"): (HELP, {0}),
    ("stack", "reset"): (HELP, {0}),
    ("stack", "status"): ((), {0}),
    ("stack", "panels"): ((), {0}),
    ("stack", "logs"): (("airflow", "-n", "2"), {0}),
    ("settings", "apply"): (HELP, {0}),
    ("demo",): (("--no-run",), {0}),
    ("mine",): (("{repo}", "--out", "{tmp}/mine"), {0}),
    ("analyse",): (("{repo}", "--out", "{tmp}/analyse"), {0}),
    ("graph", "schema"): ((), {0}),
    ("graph", "migrate"): (("--check",), {0, 3}),
    ("graph", "write"): (HELP, {0}),
    ("graph", "export"): (("--out", "{tmp}/export.jsonl"), {0}),
    ("graph", "proposals"): (("list",), {0}),
    ("dlq", "list"): ((), {0}),
    ("backup",): (HELP, {0}),
    ("restore",): (HELP, {0}),
    ("dlq", "replay"): (("--dry-run", "--since", "1m"), {0}),
}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def discovered() -> list[tuple[str, ...]]:
    """Every command, and every verb of a command that has verbs."""
    out = []
    for name, sub in _subparsers(build_parser()).items():
        verbs = _subparsers(sub)
        out += [(name, verb) for verb in verbs] if verbs else [(name,)]
    return out


def plain_env() -> dict[str, str]:
    """The environment of a terminal: this one without anything Airflow's."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}


def test_every_command_and_verb_has_a_read_only_form():
    found = discovered()
    assert sorted(set(found) - set(READ_ONLY)) == [], "write down the read-only form of new commands"
    # Every module of COMMANDS registers at least one of the commands found.
    for module in COMMANDS:
        scratch = argparse.ArgumentParser(prog="freshpoc").add_subparsers()
        importlib.import_module(f"freshpoc_tasks.cli.{module}").register(scratch)
        names = {c[0] for c in found}
        assert scratch.choices and set(scratch.choices) <= names, module


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("plain-shell")
    repo, _sha = materialise_example(ROOT / "include/examples/jaffle_shop", tmp / "jaffle_shop")
    return {"tmp": str(tmp), "repo": repo, "graph": str(tmp / "report" / "graph")}


def _run(argv: list[str], cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FRESHPOC, *argv], capture_output=True, text=True, env=plain_env(), cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=600, check=False)


def test_every_command_answers_from_a_plain_shell(stack, places):
    """Commands run in the order of READ_ONLY (``report`` first: the local questions read its
    graph), from a scratch folder, with no Airflow variable set."""
    found = set(discovered())
    problems = []
    for command, (args, ok_codes) in READ_ONLY.items():
        if command not in found:
            continue  # written down for a command this checkout does not have
        argv = [*command, *(a.format(**places) for a in args)]
        res = _run(argv, places["tmp"])
        out, err = res.stdout.strip(), res.stderr.strip()
        where = f"freshpoc {' '.join(argv)} (exit {res.returncode})"
        if "Traceback" in out + err:
            problems.append(f"{where}: traceback\n{err[-1500:]}")
        elif "Warning:" in err:  # e.g. an unclosed socket reported at exit: noise on a user's screen
            problems.append(f"{where}: a warning on stderr: {err[-300:]}")
        elif res.returncode in ok_codes:
            if not out:
                problems.append(f"{where}: no answer on stdout; stderr: {err[-300:]}")
        elif len(err.splitlines()) != 1:
            problems.append(f"{where}: failed without one clear line:\n{err[-1500:]}")
        else:
            problems.append(f"{where}: {err}")
    assert not problems, "\n\n".join(problems)


def test_the_commands_that_used_to_need_airflow_variables_answer(stack, places):
    """The issue's two: ``graph proposals`` and ``graph migrate`` ended in
    "The conn_id freshpoc_postgres isn't defined"."""
    proposals = _run(["graph", "proposals"], places["tmp"])
    assert proposals.returncode == 0, proposals.stderr
    assert "isn't defined" not in proposals.stderr
    check = _run(["graph", "migrate", "--check"], places["tmp"])
    assert check.stdout.startswith("ontology "), check.stderr
    demo = _run(["demo", "--no-run"], places["tmp"])
    assert demo.returncode == 0, demo.stderr
    assert f"{stack.cfg.airflow_url}/freshpoc/reports" in demo.stdout


def test_a_wrong_connection_is_one_clear_line(stack, places):
    env = {**plain_env(), "AIRFLOW_CONN_FRESHPOC_POSTGRES": "postgres://nobody:x@127.0.0.1:9/none"}
    res = subprocess.run([FRESHPOC, "graph", "proposals"], capture_output=True, text=True, env=env,
                         cwd=places["tmp"], timeout=120, check=False)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("error: ")
    assert "freshpoc stack status" in res.stderr
