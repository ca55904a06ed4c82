from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freshpoc_tasks.contracts.base import read_jsonl, write_jsonl
from freshpoc_tasks.contracts.mining import MINING_RECORDS, MiningOptions
from freshpoc_tasks.mining.access import open_repository
from freshpoc_tasks.mining.history import (
    HistoryAggregates,
    HistoryMiner,
    IncrementalMismatchError,
    mine_history,
    split_across,
)
from freshpoc_tasks.testing import RepoBuilder

ANN = "Ann <ann@example.com>"
ANN_OLD = "ann <ANN@old.example>"
BOB = "Bob <bob@example.com>"
CAROL = "Carol <carol@example.com>"
BOT = "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>"


def scripted(builder: RepoBuilder) -> list[str]:
    return [
        builder.commit(
            "init", author=ANN, date="2024-01-01T00:00:00+00:00",
            write={"a.py": "1\n2\n3\n", "b.py": "x\n"},
            mailmap=["Ann <ann@example.com> <ann@old.example>"],
        ),
        builder.commit("edit", author=BOB, date="2024-01-02T00:00:00+00:00", write={"a.py": "1\nTWO\n3\n"}),
        builder.commit(
            "move", author=ANN_OLD, date="2024-01-03T00:00:00+00:00",
            rename={"a.py": "src/app.py"}, write={"src/app.py": "1\nTWO\n3\n4\n"},
        ),
        builder.commit("bump", author=BOT, date="2024-01-04T00:00:00+00:00", write={"b.py": "x\ny\n"}),
        builder.commit(
            "drop b", author=BOB, date="2024-01-05T00:00:00+00:00",
            delete=["b.py"], write={"c.bin": b"\0\1\2"},
        ),
        builder.commit(
            "grow", author=CAROL, date="2024-01-06T00:00:00+00:00",
            write={"src/app.py": "1\nTWO\n3\n4\n5\n6\n", "c.bin": b"\0\1\3", "src/util.py": "u\n"},
        ),
    ]  # fmt: skip


def test_commit_stream_and_file_histories_exact(builder: RepoBuilder, open_repo) -> None:
    shas = scripted(builder)
    repo = open_repo(builder)
    miner = HistoryMiner(repo, shas[-1])
    commits = list(miner.commits())
    assert [c.sha for c in commits] == shas[::-1]
    move = commits[3]
    assert (move.author_name, move.author_email, move.summary) == ("Ann", "ann@example.com", "move")
    assert [(ch.change_type, ch.old_path, ch.path, ch.added, ch.deleted) for ch in move.changes] == [
        ("R", "a.py", "src/app.py", 1, 0)
    ]
    assert move.authored_at == datetime(2024, 1, 3, tzinfo=UTC)
    assert move.parents == [shas[1]]
    assert commits[2].is_bot and not commits[0].is_bot
    grow = {ch.path: ch for ch in commits[0].changes}
    assert grow["c.bin"].is_binary and (grow["c.bin"].added, grow["c.bin"].deleted) == (0, 0)

    agg = miner.aggregates
    histories = {h.path: h for h in agg.file_histories(datetime(2024, 1, 16, tzinfo=UTC))}
    assert set(histories) == {"src/app.py", "b.py", "c.bin", "src/util.py", ".mailmap"}
    app = histories["src/app.py"]
    # init +3, edit +1 -1, move +1, grow +2; bots excluded by default
    assert (app.revisions, app.added, app.deleted, app.churn, app.authors) == (4, 7, 1, 8, 3)
    assert (app.main_author, app.main_author_share, app.bus_factor) == ("ann@example.com", 0.571429, 1)
    assert (app.first_commit, app.last_commit, app.age_days, app.exists) == (shas[0], shas[5], 10.0, True)
    b = histories["b.py"]
    # init +1, (bot +1 excluded), drop -2
    assert (b.revisions, b.added, b.deleted, b.exists, b.authors, b.bus_factor) == (2, 1, 2, False, 2, 1)
    assert (histories["c.bin"].revisions, histories["c.bin"].added) == (2, 0)
    assert histories["c.bin"].main_author == "bob@example.com"  # by revisions: no lines for binaries

    folders = {f.folder: f for f in agg.folder_stats()}
    assert set(folders) == {"", "src"}
    assert (folders["src"].files, folders["src"].revisions, folders["src"].added) == (2, 5, 8)
    assert (folders["src"].authors, folders["src"].bus_factor) == (3, 2)  # ann 4, carol 3, bob 1 of 8

    hot = agg.hotspots({"src/app.py": 6, "src/util.py": 1, "c.bin": 0})
    assert [(h.path, h.score, h.rank) for h in hot] == [("src/app.py", 24, 1), ("src/util.py", 1, 2)]


def test_bots_included_when_asked(builder: RepoBuilder, open_repo) -> None:
    shas = scripted(builder)
    agg = mine_history(open_repo(builder), shas[-1], MiningOptions(bots="include"))
    b = {h.path: h for h in agg.file_histories(datetime(2024, 2, 1, tzinfo=UTC))}["b.py"]
    assert (b.revisions, b.added, b.deleted, b.authors) == (3, 2, 2, 3)


def _numstat_by_path(builder: RepoBuilder, path: str, extra: list[str]) -> tuple[int, int, int]:
    out = builder.git("log", "--follow", "--numstat", "--format=%H", *extra, "main", "--", path)
    revs = added = deleted = 0
    for line in out.splitlines():
        m = re.match(r"^(\d+|-)\t(\d+|-)\t", line)
        if m:
            revs += 1
            added += 0 if m.group(1) == "-" else int(m.group(1))
            deleted += 0 if m.group(2) == "-" else int(m.group(2))
    return revs, added, deleted


def test_per_file_sums_equal_git_log_numstat(builder: RepoBuilder, open_repo) -> None:
    shas = scripted(builder)
    agg = mine_history(open_repo(builder), shas[-1], MiningOptions(bots="include"))
    for path, sums in agg.files.items():
        if sums.exists:
            expected = _numstat_by_path(builder, path, ["--no-merges"])
            assert (sums.revisions, sums.added, sums.deleted) == expected, path


def test_merge_options(builder: RepoBuilder, open_repo) -> None:
    base = builder.commit(write={"m.txt": "1\n"}, author=ANN)
    side = builder.commit(write={"s.txt": "a\nb\n"}, author=BOB, branch="side", parent=base)
    main2 = builder.commit(write={"m.txt": "1\n2\n"}, author=ANN)
    merge = builder.commit("merge side", author=ANN, merge=[side], write={"s.txt": "a\nb\n"})
    repo = open_repo(builder)

    def run(merges: str) -> tuple[list[str], dict[str, tuple[int, int]]]:
        miner = HistoryMiner(repo, merge, MiningOptions(merges=merges))
        seen = [c.sha for c in miner.commits()]
        return seen, {p: (s.revisions, s.added) for p, s in miner.aggregates.files.items()}

    assert run("exclude") == ([main2, side, base], {"m.txt": (2, 2), "s.txt": (1, 2)})
    assert run("include") == ([merge, main2, side, base], {"m.txt": (2, 2), "s.txt": (1, 2)})
    # first parent: the side branch is one change, made by the merge
    assert run("first_parent") == ([merge, main2, base], {"m.txt": (2, 2), "s.txt": (1, 2)})


def _state(agg: HistoryAggregates, when: datetime) -> list[str]:
    return [r.to_json_line() for r in agg.state_records(when)]


def test_incremental_equals_full_through_jsonl(builder: RepoBuilder, tmp_path: Path) -> None:
    shas = scripted(builder)
    mid = shas[2]
    more = [
        builder.commit("rename again", author=BOB, rename={"src/app.py": "lib/app.py"}),
        builder.commit(
            "touch", author=CAROL, write={"lib/app.py": "1\nTWO\n3\n4\n5\n6\n7\n", "src/util.py": "v\n"}
        ),
    ]  # fmt: skip
    repo = open_repository(str(builder.path), tmp_path / "cache")
    when = datetime(2024, 3, 1, tzinfo=UTC)
    opts = MiningOptions(min_revisions=1, min_shared_revisions=1)

    earlier = mine_history(repo, mid, opts)
    state = tmp_path / "state.jsonl.gz"
    write_jsonl(state, earlier.state_records(when))
    restored = HistoryAggregates.from_records(read_jsonl(state, MINING_RECORDS))
    assert _state(restored, when) == _state(earlier, when)

    incremental = mine_history(repo, more[-1], opts, base=mid, previous=restored)
    full = mine_history(repo, more[-1], opts)
    assert _state(incremental, when) == _state(full, when)
    assert list(incremental.couplings(opts)) == list(full.couplings(opts))
    assert list(incremental.folder_stats()) == list(full.folder_stats())
    lib = full.files["lib/app.py"]
    assert (lib.revisions, lib.added, lib.deleted) == (6, 8, 1)  # every rename followed
    assert "src/app.py" not in full.files and "a.py" not in full.files
    with gzip.open(state, "rt") as fh:
        assert json.loads(fh.readline())["schema_version"] == "1.0"


_FILES = ["a.txt", "b.txt", "d/c.txt", "d/e/f.txt"]
_AUTHORS = [ANN, BOB, CAROL, BOT]
_op = st.tuples(
    st.sampled_from(["write", "write", "write", "delete", "rename"]),
    st.sampled_from(_FILES),
    st.sampled_from(_FILES),
    st.integers(1, 6),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    script=st.lists(st.tuples(st.sampled_from(_AUTHORS), st.lists(_op, min_size=1, max_size=3)), min_size=2,
                    max_size=8),
    split=st.integers(0, 7),
)  # fmt: skip
def test_random_histories_incremental_equals_full_and_totals_match_git(
    script, split: int, tmp_path_factory
) -> None:
    root = tmp_path_factory.mktemp("rand")
    builder = RepoBuilder(root / "r.git")
    present: dict[str, int] = {}
    shas = []
    for n, (author, ops) in enumerate(script):
        write, delete, rename = {}, [], {}
        for kind, path, other, lines in ops:
            touched = set(write) | set(delete) | set(rename) | set(rename.values())
            if path in touched or other in touched:
                continue
            if kind == "write":
                write[path] = "".join(f"{n}-{i}\n" for i in range(lines))
                present[path] = lines
            elif kind == "delete" and path in present:
                delete.append(path)
                del present[path]
            elif kind == "rename" and path in present and other not in present and other != path:
                rename[path] = other
                present[other] = present.pop(path)
        if not (write or delete or rename):
            write = {f"n{n}.txt": "x\n"}
            present[f"n{n}.txt"] = 1
        shas.append(builder.commit(f"c{n}", author=author, write=write, delete=delete, rename=rename))
    repo = open_repository(str(builder.path), root / "cache")
    when = datetime(2025, 1, 1, tzinfo=UTC)
    opts = MiningOptions(bots="include")
    full = mine_history(repo, shas[-1], opts)

    raw = builder.git("log", "--numstat", "-M", "--format=", "main")
    totals = defaultdict(int)
    for line in raw.splitlines():
        if line:
            added, deleted, _ = line.split("\t", 2)
            totals["added"] += int(added)
            totals["deleted"] += int(deleted)
            totals["changes"] += 1
    assert sum(s.added for s in full.files.values()) == totals["added"]
    assert sum(s.deleted for s in full.files.values()) == totals["deleted"]
    assert sum(s.revisions for s in full.files.values()) == totals["changes"]
    assert {p for p, s in full.files.items() if s.exists} == set(present)

    base = shas[min(split, len(shas) - 2)]
    earlier = mine_history(repo, base, opts)
    try:
        incremental = mine_history(repo, shas[-1], opts, base=base, previous=earlier)
    except IncrementalMismatchError:
        # A split straddles base (renamed at base, re-added just after): the earlier sums
        # already followed it, so only a full pass is right; the refusal must say so.
        assert split_across(repo, base, shas[-1], opts)
        return
    assert split_across(repo, base, shas[-1], opts) is None
    assert _state(incremental, when) == _state(full, when)


def _split_history(builder: RepoBuilder) -> list[str]:
    """flask 2023 in miniature: app.py moved to sansio/app.py, then a new app.py next commit."""
    return [
        builder.commit("create", author=ANN, write={"src/app.py": "a\nb\nc\n"}),
        builder.commit("grow", author=BOB, write={"src/app.py": "a\nb\nc\nd\n"}),
        builder.commit("move", author=ANN, rename={"src/app.py": "src/sansio/app.py"}),
        builder.commit(
            "split", author=ANN,
            write={"src/app.py": "import sansio\nio\n", "src/sansio/app.py": "a\nb\nc\nd\ne\n"},
        ),
        builder.commit("edit", author=CAROL, write={"src/app.py": "import sansio\nio\nmore\n"}),
    ]  # fmt: skip


def test_split_is_not_followed_history_stays_with_the_old_path(builder: RepoBuilder, open_repo) -> None:
    shas = _split_history(builder)
    repo = open_repo(builder)
    miner = HistoryMiner(repo, shas[-1])
    for _ in miner.commits():
        pass
    files = {p: (s.revisions, s.added, s.deleted, s.first_commit) for p, s in miner.aggregates.files.items()}
    # app.py: create +3, grow +1, split +2 (a new file), edit +1: its past is kept
    # sansio/app.py: the move (R100, 0 lines), the split's edit +1: it starts at the move
    assert files == {"src/app.py": (4, 7, 0, shas[0]), "src/sansio/app.py": (2, 1, 0, shas[2])}
    assert miner.splits == 1


def test_split_in_one_commit_keeps_the_old_path(builder: RepoBuilder, open_repo) -> None:
    """Moved and re-added in the same commit: git sees an edit and an add, so nothing moves."""
    builder.commit(write={"app.py": "a\nb\n"})
    head = builder.commit(rename={"app.py": "sansio/app.py"}, write={"app.py": "io\n"})
    agg = mine_history(open_repo(builder), head)
    assert {p: (s.revisions, s.added, s.deleted) for p, s in agg.files.items()} == {
        "app.py": (2, 3, 2), "sansio/app.py": (1, 2, 0),
    }  # fmt: skip


def test_a_plain_rename_is_still_followed_and_renames_off_counts_paths(
    builder: RepoBuilder, open_repo
) -> None:
    builder.commit(write={"old.py": "1\n2\n"})
    builder.commit(rename={"old.py": "new.py"})
    builder.commit(write={"new.py": "1\n2\n3\n"})
    head = builder.commit(write={"old.py": "unrelated, much later\n"})  # not a child of the move
    repo = open_repo(builder)
    follow = {p: (s.revisions, s.added, s.deleted) for p, s in mine_history(repo, head).files.items()}
    assert follow == {"new.py": (3, 3, 0), "old.py": (1, 1, 0)}
    off = mine_history(repo, head, MiningOptions(detect_renames=False))
    assert {p: (s.revisions, s.added, s.deleted) for p, s in off.files.items()} == {
        "old.py": (3, 3, 2), "new.py": (2, 3, 0),
    }  # fmt: skip


def test_incremental_run_refuses_a_split_across_its_base(builder: RepoBuilder, open_repo) -> None:
    shas = _split_history(builder)
    repo = open_repo(builder)
    earlier = mine_history(repo, shas[2])  # ends at the move: app.py's past went to sansio/app.py
    assert "a split" in (split_across(repo, shas[2], shas[-1], MiningOptions()) or "")
    try:
        mine_history(repo, shas[-1], base=shas[2], previous=earlier)
    except IncrementalMismatchError as exc:
        assert "src/app.py" in str(exc)
    else:
        raise AssertionError("an incremental run across a split must be refused")
    # one commit later the split is inside the new range: incremental equals full again
    at_split = mine_history(repo, shas[3])
    incremental = mine_history(repo, shas[-1], base=shas[3], previous=at_split)
    when = datetime(2025, 1, 1, tzinfo=UTC)
    assert split_across(repo, shas[3], shas[-1], MiningOptions()) is None
    assert _state(incremental, when) == _state(mine_history(repo, shas[-1]), when)
