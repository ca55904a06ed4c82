from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from freshpoc_tasks.cli.main import main
from freshpoc_tasks.contracts.base import read_jsonl
from freshpoc_tasks.contracts.mining import MINING_RECORDS, MiningOptions
from freshpoc_tasks.mining import mine_repository
from freshpoc_tasks.mining.pipeline import write_stage
from freshpoc_tasks.testing import RepoBuilder

AGGREGATE_KINDS = ("file_history", "author_contribution", "co_change", "folder_stats", "hotspot", "coupling")


def hostile_repo(builder: RepoBuilder) -> list[str]:
    return [
        builder.commit(
            write={
                "app.py": "import os\nprint(os.name)\n",
                b"bad\xfe\xffname.py": "x = 1\n",
                "latin.txt": b"caf\xe9\n",
                "big.bin": b"\0" * 3000,
                ".gitattributes": "*.txt linguist-vendored\n",
            },
            symlinks={"passwd": "/etc/passwd"},
            author="Ann <ann@example.com>",
        ),
        builder.commit(
            write={"app.py": "import os\nprint(os.name)\nprint(1)\n"}, author="Bob <bob@example.com>"
        ),
        builder.commit(write={"app.py": "import os\n", "lib.py": "y = 2\n"}, author="Ann <ann@example.com>"),
    ]


def records(path: Path) -> list:
    return list(read_jsonl(path, MINING_RECORDS))


def test_mine_repository_writes_one_ordered_stage_file(builder: RepoBuilder, tmp_path: Path) -> None:
    shas = hostile_repo(builder)
    progress: list[int] = []
    result = mine_repository(
        str(builder.path), tmp_path / "out", cache_dir=tmp_path / "cache", max_bytes=1000,
        progress=progress.append, progress_every=2,
    )  # fmt: skip
    assert result.commit == shas[-1] and result.base_commit is None
    assert result.artifact == tmp_path / "out" / "mine.jsonl.gz"
    assert result.counts == {
        "files": 7, "files_skipped": 3, "gitattr_skipped": 0, "commits": 3,
        "dates_clamped": 0, "splits": 0,
        "file_histories": 7, "folders": 1, "hotspots": 5, "couplings": 0,
    }  # fmt: skip
    assert progress == [2, 3]
    recs = records(result.artifact)
    kinds = [r.KIND for r in recs]
    assert kinds[0] == "repo_snapshot"
    assert kinds[1:8] == ["file"] * 7 and kinds[8:11] == ["commit"] * 3
    assert set(kinds[11:]) <= set(AGGREGATE_KINDS)
    files = {r.path: r for r in recs if r.KIND == "file"}
    assert files["passwd"].symlink_target == "/etc/passwd"
    assert files["big.bin"].skipped_reason == "too_large"
    assert files["bad\\xfe\\xffname.py"].language == "python"
    assert files["latin.txt"].is_vendored and files["latin.txt"].skipped_reason == "not_utf8"
    hot = [r for r in recs if r.KIND == "hotspot"]
    assert (hot[0].path, hot[0].score) == ("app.py", 3)


def test_records_kept_without_the_file_are_written_later(builder: RepoBuilder, tmp_path: Path) -> None:
    """``write=False`` (what ``freshpoc report`` does, to write the file from a background
    process): nothing on disk yet, every record in ``keep``, and ``write_stage`` of them gives the
    file a streaming run writes (snapshot aside: it carries the time of mining)."""
    hostile_repo(builder)
    streamed = mine_repository(str(builder.path), tmp_path / "a", cache_dir=tmp_path / "cache",
                               max_bytes=1000)
    kept: list = []
    held = mine_repository(str(builder.path), tmp_path / "b", cache_dir=tmp_path / "cache", max_bytes=1000,
                           keep=kept, write=False)
    assert not held.artifact.exists() and held.counts == streamed.counts
    assert write_stage(kept, tmp_path / "b") == held.artifact
    a, b = records(streamed.artifact), records(held.artifact)
    assert [r for r in a if r.KIND != "repo_snapshot"] == [r for r in b if r.KIND != "repo_snapshot"]
    assert len(a) == len(b) == len(kept)
    with pytest.raises(ValueError, match="keep"):
        mine_repository(str(builder.path), tmp_path / "c", cache_dir=tmp_path / "cache", write=False)


def test_incremental_stage_equals_full_stage(builder: RepoBuilder, tmp_path: Path) -> None:
    shas = hostile_repo(builder)
    first = mine_repository(str(builder.path), tmp_path / "a", cache_dir=tmp_path / "cache", ref=shas[1])
    builder.commit(rename={"lib.py": "pkg/lib.py"}, write={"pkg/lib.py": "y = 2\nz = 3\n"})
    head = builder.commit(write={"app.py": "import sys\n", "pkg/lib.py": "y = 3\nz = 3\n"})
    inc = mine_repository(
        str(builder.path), tmp_path / "b", cache_dir=tmp_path / "cache", previous=first.artifact
    )
    full = mine_repository(str(builder.path), tmp_path / "c", cache_dir=tmp_path / "cache")
    assert inc.commit == full.commit == head and inc.base_commit == shas[1]
    assert inc.counts["commits"] == 3 and full.counts["commits"] == 5

    def aggregates(path: Path) -> list[str]:
        return [r.to_json_line() for r in records(path) if r.KIND in AGGREGATE_KINDS]

    assert aggregates(inc.artifact) == aggregates(full.artifact)
    assert Counter(r.KIND for r in records(inc.artifact))["file_history"] == 7


def test_incremental_falls_back_to_full_when_options_change(builder: RepoBuilder, tmp_path: Path) -> None:
    hostile_repo(builder)
    first = mine_repository(str(builder.path), tmp_path / "a", cache_dir=tmp_path / "cache")
    again = mine_repository(
        str(builder.path), tmp_path / "b", cache_dir=tmp_path / "cache", previous=first.artifact,
        options=MiningOptions(bots="include"),
    )  # fmt: skip
    assert again.base_commit is None and again.counts["commits"] == 3


def test_cli_mine_and_clear_errors(builder: RepoBuilder, tmp_path: Path, capsys) -> None:
    hostile_repo(builder)
    code = main(["mine", str(builder.path), "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert code == 0 and re.search(r"^local/demo-[0-9a-f]{8} @ ", out) and "commits         3" in out
    assert (tmp_path / "o" / "mine.jsonl.gz").is_file()

    for bad in ("ext::sh -c id", "--upload-pack=touch x", "file:///etc"):
        assert main(["mine", bad, "--out", str(tmp_path / "x"), "--cache", str(tmp_path / "c")]) == 2
        assert "refusing repository location" in capsys.readouterr().err
    assert main(["mine", str(builder.path), "--ref", "nope", "--out", str(tmp_path / "x"),
                 "--cache", str(tmp_path / "c")]) == 2  # fmt: skip
    assert "does not name a commit" in capsys.readouterr().err


# The builder dates commits 2024-01-02, -03, -04 at midnight UTC; a commit at the instant counts.
@pytest.mark.parametrize(("as_of", "index"), [("2024-01-02T12:00:00", 0), ("2024-01-03T00:00:00+00:00", 1)])
def test_cli_as_of(builder: RepoBuilder, tmp_path: Path, capsys, as_of: str, index: int) -> None:
    shas = hostile_repo(builder)
    args = [
        "mine",
        str(builder.path),
        "--as-of",
        as_of,
        "--out",
        str(tmp_path / "o"),
        "--cache",
        str(tmp_path),
    ]
    assert main(args) == 0
    assert f"@ {shas[index][:12]} (full)" in capsys.readouterr().out


def test_file_deleted_by_an_uncounted_bot_is_not_reported_as_existing(
    builder: RepoBuilder, tmp_path: Path
) -> None:
    builder.commit(write={"keep.py": "a\n", "gone.py": "b\n"}, author="Ann <ann@example.com>")
    builder.commit(delete=["gone.py"], author="renovate[bot] <bot@example.com>")
    result = mine_repository(str(builder.path), tmp_path / "o", cache_dir=tmp_path / "c")
    histories = {r.path: r for r in records(result.artifact) if r.KIND == "file_history"}
    assert {p: (h.exists, h.revisions) for p, h in histories.items()} == {
        "keep.py": (True, 1),
        "gone.py": (False, 1),
    }
