"""How the embed operator reads its staged inputs (no servers involved)."""

from __future__ import annotations

import io
import tarfile

import pytest

from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.model import SourceFile
from freshpoc_tasks.contracts.base import write_jsonl
from freshpoc_tasks.contracts.locations import parse_uri as split_uri
from freshpoc_tasks.operators.embed import load_delta, read_snapshot


@pytest.mark.parametrize(("uri", "expected"), [
    ("s3://b/staging/x/1/analyse.jsonl.gz", ("b", "staging/x/1/analyse.jsonl.gz")),
    ("staging/x/1/analyse.jsonl.gz", ("freshpoc", "staging/x/1/analyse.jsonl.gz")),
    ("/snapshots/x.tar.gz", ("freshpoc", "snapshots/x.tar.gz")),
])
def test_split_uri(uri, expected):
    assert split_uri(uri, "freshpoc") == expected


def test_split_uri_refuses_a_bucket_without_key():
    with pytest.raises(ValueError, match="not an s3://bucket/key URI"):
        split_uri("s3://bucket", "freshpoc")


def _tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("repo-abc/evil.py")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)


def test_snapshot_drops_a_single_top_folder_and_keeps_only_source_files(tmp_path):
    _tar(tmp_path / "s.tar.gz", {"repo-abc/pkg/core.py": b"x = 1\n", "repo-abc/README.md": b"# Hi\n",
                                 "repo-abc/logo.png": b"\x89PNG", "../escape.py": b"y = 2\n"})
    assert read_snapshot(tmp_path / "s.tar.gz", ["pkg/core.py"]) == {
        "pkg/core.py": b"x = 1\n", "README.md": b"# Hi\n"}


def test_snapshot_with_repo_relative_names_is_read_as_is(tmp_path):
    _tar(tmp_path / "s.tar.gz", {"./pkg/core.py": b"x = 1\n", "setup.py": b"\n"})
    assert read_snapshot(tmp_path / "s.tar.gz", ["pkg/core.py", "setup.py"]) == {
        "pkg/core.py": b"x = 1\n", "setup.py": b"\n"}


def test_delta_reads_back_streamed_or_whole(tmp_path):
    delta = analyse_repository([SourceFile.from_text("pkg/core.py", "def f():\n    return 1\n")], "local/t",
                               commit="c" * 40)
    write_jsonl(tmp_path / "streamed.jsonl.gz", delta.iter_records())
    write_jsonl(tmp_path / "whole.jsonl.gz", [delta])
    assert load_delta(tmp_path / "streamed.jsonl.gz") == delta
    assert load_delta(tmp_path / "whole.jsonl.gz") == delta
