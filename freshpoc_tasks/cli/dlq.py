"""``freshpoc dlq list|replay``: what could not be processed, and re-submitting it after a fix.

Every stage that gives up on a repository puts a letter on ``freshpoc.dlq`` (the planning task
when a repository cannot be opened, a per-repository task when its retries are spent, the
on-push watcher for an invalid request), with the reason and, as ``payload``, the spec to run
again. ``list`` prints them; ``replay`` triggers ``freshpoc_pipeline`` over Airflow's REST API
once per distinct spec (repository, ref, force) among the selected letters.

Replay is idempotent, by construction rather than by luck:

* every letter has an id (a hash of its stored bytes, which carry its own timestamp);
* a re-submitted letter is recorded in ``freshpoc.dlq_replays`` (primary key: the letter id)
  with the DAG run that re-submitted it, and letters found there are never re-submitted;
* the DAG run id is derived from the ids of the letters it re-submits, so if the command dies
  between triggering and recording, running it again asks Airflow for the same run id, Airflow
  answers 409 (the run exists) and the letters are recorded — still one run.

A letter whose payload holds no repository (e.g. a request that was not JSON) is listed as not
replayable and left alone. Like ``freshpoc demo``, it works from a plain shell against the local
stack (connections from ``airflow_settings.yaml``; ``AIRFLOW_CONN_*`` already set win).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from freshpoc_tasks.stack.client import one_line_errors, use_local_stack

DAG_ID = "freshpoc_pipeline"
RUN_PREFIX = "dlq_replay__"
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "dlq", help="list dead letters (freshpoc.dlq) and re-submit them after a fix",
        description="List the dead-letter topic, or re-submit its letters to freshpoc_pipeline "
                    "(idempotent: a letter is re-submitted at most once).")
    p.add_argument("--kafka-conn", default="freshpoc_kafka", help="Airflow connection of Kafka")
    p.add_argument("--postgres-conn", default="freshpoc_postgres",
                   help="Airflow connection of the database that records replays")
    sub = p.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    for name, text in (("list", "print the dead letters (oldest first)"),
                       ("replay", "re-submit the selected letters not yet replayed")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--since", type=parse_since, metavar="WHEN",
                       help="only letters at or after WHEN: ISO time (UTC if no zone) or an age "
                            "such as 30m, 6h, 2d")
        s.add_argument("--stage", action="append", metavar="STAGE",
                       help="only letters of this stage (plan, on_push, request, ingest, mine, "
                            "analyse, write_graph, embed, report); repeatable")
        s.add_argument("--repo", action="append", metavar="REPO",
                       help="only letters of this repository (location or repo id); repeatable")
        if name == "list":
            s.add_argument("--json", action="store_true", help="one JSON object per line")
        else:
            s.add_argument("--dag", default=DAG_ID, help=f"DAG to re-submit to (default {DAG_ID})")
            s.add_argument("--dry-run", action="store_true", help="say what would run, change nothing")
            s.add_argument("--wait", action="store_true",
                           help="wait for the triggered runs and exit 1 if one fails")
            s.add_argument("--timeout", type=float, default=1800, help="seconds --wait waits")
    p.set_defaults(func=run)


def parse_since(text: str) -> datetime:
    """``30m``/``6h``/``2d``/``1w`` ago, or an ISO time (naive = UTC)."""
    m = _RELATIVE.match(text.strip())
    if m:
        return datetime.now(UTC) - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO time or an age like 6h: {text!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def letter_time(letter: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(letter.get("ts")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def replay_spec(letter: dict[str, Any]) -> dict[str, Any] | None:
    """What to run again for a letter: ``{"repo", "ref", "force"}`` from its payload, or None.

    Stage letters carry the spec they failed on; a ``request`` letter carries the raw message
    that was refused (replayable once it is a request the validator now accepts)."""
    try:
        payload = json.loads(letter.get("payload") or "")
    except (TypeError, ValueError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("repo"), str) or not payload["repo"]:
        return None
    ref = payload.get("ref")
    return {"repo": payload["repo"], "ref": ref if isinstance(ref, str) and ref else None,
            "force": payload.get("force") is True}


def select(letters: Iterable[Any], *, since: datetime | None = None,
           stages: list[str] | None = None, repos: list[str] | None = None) -> list[Any]:
    """The stored letters that pass the filters (all of them when none is given)."""
    chosen = []
    for stored in letters:
        letter = stored.letter
        if since is not None and ((letter_time(letter) or datetime.min.replace(tzinfo=UTC)) < since):
            continue
        if stages and str(letter.get("stage")) not in stages:
            continue
        if repos:
            spec = replay_spec(letter) or {}
            if not {str(letter.get("repo_id")), str(spec.get("repo"))} & set(repos):
                continue
        chosen.append(stored)
    return chosen


@dataclass
class Replay:
    """One DAG run to trigger: a spec and the letters it re-submits."""

    spec: dict[str, Any]
    letters: list[Any] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """Derived from the letters alone: the same letters always mean the same run."""
        ids = "\n".join(sorted(x.letter_id for x in self.letters))
        return RUN_PREFIX + hashlib.sha256(ids.encode()).hexdigest()[:20]

    @property
    def conf(self) -> dict[str, Any]:
        return {"repo": self.spec["repo"], "ref": self.spec["ref"], "force": self.spec["force"]}


def plan_replays(letters: Iterable[Any], replayed: dict[str, str]) -> tuple[list[Replay], list[Any]]:
    """(runs to trigger, letters that cannot be replayed), leaving out letters already replayed.

    Letters of the same spec share one run: three failed nightly runs of a repository that was
    unreachable become one re-submission."""
    runs: dict[tuple[str, str | None, bool], Replay] = {}
    unreplayable = []
    for stored in letters:
        if stored.letter_id in replayed:
            continue
        spec = replay_spec(stored.letter)
        if spec is None:
            unreplayable.append(stored)
            continue
        key = (spec["repo"], spec["ref"], spec["force"])
        runs.setdefault(key, Replay(spec)).letters.append(stored)
    return list(runs.values()), unreplayable


def trigger(api: Any, dag_id: str, replay: Replay) -> bool:
    """Trigger the replay's run; False when Airflow already has it (an earlier, interrupted
    replay of the same letters)."""
    import httpx

    api.wait_for_dag(dag_id)
    api.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    body = {"dag_run_id": replay.run_id, "logical_date": None, "conf": replay.conf}
    try:
        api.api("POST", f"/dags/{dag_id}/dagRuns", json=body)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 409:
            return False
        raise
    return True


def _clean(text: Any, width: int) -> str:
    """Letters hold what repositories and requests said: no control characters on a terminal."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in str(text if text is not None else "-"))
    return shown if len(shown) <= width else shown[: width - 1] + "…"


@one_line_errors
def run(args: argparse.Namespace) -> int:
    use_local_stack()  # before Airflow is imported (by the hooks), so its settings apply

    from freshpoc_tasks.hooks.events import ReplayLedger, read_dead_letters

    letters = select(read_dead_letters(args.kafka_conn), since=args.since, stages=args.stage,
                     repos=args.repo)
    ledger = ReplayLedger(args.postgres_conn)
    replayed = ledger.replayed()
    if args.dlq_command == "list":
        return _list(letters, replayed, args.json)
    return _replay(args, letters, replayed, ledger)


def _list(letters: list[Any], replayed: dict[str, str], as_json: bool) -> int:
    if as_json:
        for x in letters:
            print(json.dumps({"letter_id": x.letter_id, "partition": x.partition, "offset": x.offset,
                              "replayed_by": replayed.get(x.letter_id), **x.letter}, default=str))
        return 0
    print(f"{'offset':>9}  {'time (UTC)':19}  {'stage':11}  {'repository':40}  {'replayed by':32}  reason")
    for x in letters:
        when = letter_time(x.letter)
        by = replayed.get(x.letter_id) or ("-" if replay_spec(x.letter) else "not replayable")
        print(f"{x.partition}:{x.offset:<7}  {when.strftime('%Y-%m-%d %H:%M:%S') if when else '-':19}  "
              f"{_clean(x.letter.get('stage'), 11):11}  {_clean(x.letter.get('repo_id'), 40):40}  "
              f"{_clean(by, 32):32}  "
              f"{_clean(x.letter.get('reason'), 100)}")
    print(f"{len(letters)} dead letters, {sum(x.letter_id in replayed for x in letters)} replayed")
    return 0


def _replay(args: argparse.Namespace, letters: list[Any], replayed: dict[str, str], ledger: Any) -> int:
    from freshpoc_tasks.stack.airflow_rest import AirflowRest
    from freshpoc_tasks.stack.config import StackConfig

    runs, unreplayable = plan_replays(letters, replayed)
    done = sum(x.letter_id in replayed for x in letters)
    for x in unreplayable:
        print(f"not replayable (no repository in its payload): {x.partition}:{x.offset} "
              f"{_clean(x.letter.get('stage'), 20)}: {_clean(x.letter.get('reason'), 100)}")
    if args.dry_run:
        for r in runs:
            print(f"would trigger {args.dag} {r.run_id} for {_clean(r.spec['repo'], 200)} "
                  f"({len(r.letters)} letters)")
        print(f"{len(runs)} runs would re-submit {sum(len(r.letters) for r in runs)} letters; "
              f"{done} already replayed")
        return 0
    states: dict[str, str] = {}
    with AirflowRest(StackConfig.from_env().airflow_url) as api:
        for r in runs:
            new = trigger(api, args.dag, r)
            ledger.record(r.letters, r.spec["repo"], args.dag, r.run_id)
            print(f"{'triggered' if new else 'already triggered'} {args.dag} {r.run_id} for "
                  f"{_clean(r.spec['repo'], 200)} ({len(r.letters)} letters)")
        print(f"re-submitted {sum(len(r.letters) for r in runs)} letters in {len(runs)} runs; "
              f"{done} already replayed, {len(unreplayable)} not replayable")
        if args.wait:
            for r in runs:
                states[r.run_id] = api.wait(args.dag, r.run_id, timeout=args.timeout, poll=3)
                print(f"{r.run_id}: {states[r.run_id]}")
    return 1 if any(s != "success" for s in states.values()) else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m freshpoc_tasks.cli.dlq`` until ``dlq`` is listed in the ``freshpoc`` command."""
    parser = argparse.ArgumentParser(prog="freshpoc")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
