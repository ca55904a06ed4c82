"""Hostile repositories: odd bytes in paths and names, and config that would run programs."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from freshpoc_tasks.contracts.mining import MiningOptions
from freshpoc_tasks.mining import mine_repository, open_repository
from freshpoc_tasks.mining._git import git_env
from freshpoc_tasks.mining.access import Credentials
from freshpoc_tasks.mining.history import HistoryMiner, git_log_args, parse_log_raw
from freshpoc_tasks.testing import RepoBuilder

ODD = {
    b"\x01" + b"a" * 40: "looks like a header\n",
    b"tab\there": "1\n2\n",
    b"new\nline": "x\n",
    b"-rf": "dash\n",
    b"\xff\xfe.py": "y = 1\n",
}


def test_odd_paths_survive_the_history_parser(builder: RepoBuilder, open_repo) -> None:
    builder.commit(write=ODD, author="Ren\xe9 <rene@example.com>")
    head = builder.commit(rename={b"tab\there": b"tab\tthere"}, write={b"new\nline": "x\ny\n"})
    repo = open_repo(builder)
    commits = list(HistoryMiner(repo, head, MiningOptions()).commits())
    assert [len(c.changes) for c in commits] == [2, 5]
    assert commits[1].author_name == "Ren\xe9"
    newest = {(ch.change_type, ch.old_path, ch.path, ch.added) for ch in commits[0].changes}
    assert newest == {("R", "tab\there", "tab\tthere", 0), ("M", None, "new\nline", 1)}
    assert {ch.path for ch in commits[1].changes} == {
        "\x01" + "a" * 40, "tab\there", "new\nline", "-rf", "\\xff\\xfe.py",
    }  # fmt: skip


def test_parser_is_independent_of_how_the_pipe_is_chunked(builder: RepoBuilder, open_repo) -> None:
    builder.commit(write=ODD)
    builder.commit(write={"a": "1\n"}, rename={b"-rf": b"+rf"})
    head = builder.commit(write={"b": b"\0bin"})
    repo = open_repo(builder)
    out = subprocess.run(
        ["git", f"--git-dir={repo.git_dir}", *git_log_args(MiningOptions(), head)],
        capture_output=True, check=True, env=git_env(),
    ).stdout  # fmt: skip

    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes, step: int) -> None:
            self.data, self.step, self.pos = data, step, 0

        def read(self, size: int = -1) -> bytes:
            chunk = self.data[self.pos : self.pos + self.step]
            self.pos += len(chunk)
            return chunk

    whole = list(parse_log_raw(io.BytesIO(out)))
    assert len(whole) == 3
    for step in (1, 2, 3, 7, 41, 64):
        assert list(parse_log_raw(Trickle(out, step))) == whole


def test_source_repository_config_and_hooks_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    src = tmp_path / "evil"
    env = git_env()
    subprocess.run(["git", "init", "-q", str(src)], check=True, env=env)
    (src / ".gitattributes").write_text("* filter=evil\n")
    (src / "a.py").write_text("print(1)\n")
    subprocess.run(["git", "-C", str(src), "add", "-A"], check=True, env=env)
    subprocess.run(
        ["git", "-C", str(src), "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
         "-c", "user.name=x", "-c", "user.email=x@example.com", "commit", "-qm", "evil"],
        check=True, env=env,
    )  # fmt: skip
    # Armed only now, so that setting the repository up ran none of it.
    hooks = src / ".git" / "hooks"
    for hook in (
        "post-checkout",
        "post-merge",
        "pre-upload-pack",
        "reference-transaction",
        "fsmonitor-watchman",
    ):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (hooks / hook).chmod(0o755)
    for key, value in (
        ("core.fsmonitor", f"touch {marker}"),
        ("core.hooksPath", str(hooks)),
        ("uploadpack.packObjectsHook", f"touch {marker}; git pack-objects"),
        ("filter.evil.smudge", f"touch {marker}"),
        ("core.sshCommand", f"touch {marker}"),
    ):
        subprocess.run(["git", "-C", str(src), "config", key, value], check=True, env=env)
    assert not marker.exists()

    result = mine_repository(str(src), tmp_path / "out", cache_dir=tmp_path / "cache")
    mine_repository(str(src), tmp_path / "out2", cache_dir=tmp_path / "cache")  # fetch path too
    assert result.counts["files"] == 2 and result.counts["commits"] == 1
    assert not marker.exists()
    repo = open_repository(str(src), tmp_path / "cache")
    assert b"fsmonitor" not in (repo.git_dir / "config").read_bytes()


def test_token_reaches_git_only_through_the_environment() -> None:
    creds = Credentials(token="ghp_secret")
    assert all("ghp_secret" not in item for item in creds.git_config())
    assert creds.git_env()["FRESHPOC_GIT_TOKEN"] == "ghp_secret"
