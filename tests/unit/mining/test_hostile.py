"""Hostile repositories: odd bytes in paths and names, and config that would run programs."""

from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from freshpoc_tasks.cli.main import main
from freshpoc_tasks.contracts.base import read_jsonl
from freshpoc_tasks.contracts.mining import MINING_RECORDS, MiningOptions
from freshpoc_tasks.mining import UnsafeLocationError, iter_inventory, mine_repository, open_repository
from freshpoc_tasks.mining._git import EscapingFilter, git_env, printable
from freshpoc_tasks.mining.access import Credentials
from freshpoc_tasks.mining.history import MAX_EPOCH, MIN_EPOCH, HistoryMiner, git_log_args, parse_log_raw
from freshpoc_tasks.mining.inventory import (
    MAX_ATTRIBUTE_MATCHES,
    MAX_ATTRIBUTE_RULES,
    MIN_ATTRIBUTE_RULES,
    attribute_rule_budget,
)
from freshpoc_tasks.mining.wildmatch import Glob
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


# --- reading another repository through .git indirections (issue 15) ----------------------


def _work_tree(path: Path, files: dict[str, str]) -> Path:
    """A non-bare repository with one commit, made with plain git (no hooks, no user config)."""
    env = git_env()
    subprocess.run(["git", "init", "-q", "--initial-branch=main", str(path)], check=True, env=env)
    for name, text in files.items():
        (path / name).write_text(text)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(path), "-c", "user.name=x", "-c", "user.email=x@example.com",
                    "commit", "-qm", "c"], check=True, env=env)  # fmt: skip
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """Another repository (think: a private mirror in the cache) that must never leak."""
    return _work_tree(tmp_path / "secret", {"secret.py": "TOKEN = 'canary-7f3a'\n"})


def _indirections(tmp_path: Path, secret: Path) -> dict[str, Path]:
    cases: dict[str, Path] = {}
    gitfile = tmp_path / "gitfile"
    gitfile.mkdir()
    (gitfile / ".git").write_text(f"gitdir: {secret / '.git'}\n")
    cases["gitdir: file"] = gitfile

    link = tmp_path / "dotgit-link"
    link.mkdir()
    (link / ".git").symlink_to(secret / ".git")
    cases[".git symlink"] = link

    common = _work_tree(tmp_path / "commondir", {"ok.py": "x = 1\n"})
    (common / ".git" / "commondir").write_text(str(secret / ".git") + "\n")
    cases["commondir"] = common

    alt = _work_tree(tmp_path / "alternates", {"ok.py": "x = 1\n"})
    (alt / ".git" / "objects" / "info" / "alternates").write_text(str(secret / ".git" / "objects") + "\n")
    cases["alternates"] = alt

    objs = _work_tree(tmp_path / "objects-link", {"ok.py": "x = 1\n"})
    shutil.rmtree(objs / ".git" / "objects")
    (objs / ".git" / "objects").symlink_to(secret / ".git" / "objects")
    cases["objects symlink"] = objs

    bare = tmp_path / "bare-pack-link.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(secret), str(bare)], check=True, env=git_env())
    subprocess.run(["git", f"--git-dir={bare}", "repack", "-qad"], check=True, env=git_env())
    pack = next((bare / "objects" / "pack").glob("*.pack"))
    pack.unlink()
    pack.symlink_to(next((secret / ".git" / "objects" / "pack").glob("*.pack"), pack))
    cases["symlinked pack file"] = bare

    nested = _work_tree(tmp_path / "nested", {"ok.py": "x = 1\n"})
    (nested / ".git" / ".git").write_text(f"gitdir: {secret / '.git'}\n")
    cases[".git inside .git"] = nested

    # a partial clone: a missing blob would be fetched from the promisor remote its config names
    promisor = _work_tree(tmp_path / "promisor", {"ok.py": "x = 1\n"})
    (tmp_path / "promisor.inc").write_text(f"[remote \"p\"]\n\tpromisor = true\n\turl = file://{secret}\n")
    subprocess.run(["git", "-C", str(promisor), "config", "include.path", str(tmp_path / "promisor.inc")],
                   check=True, env=git_env())
    cases["promisor remote (through an include)"] = promisor
    return cases


def test_indirections_to_another_repository_are_refused(tmp_path: Path, secret: Path, capsys) -> None:
    subprocess.run(["git", "-C", str(secret), "repack", "-qad"], check=True, env=git_env())
    for what, path in _indirections(tmp_path, secret).items():
        with pytest.raises(UnsafeLocationError, match="refusing local repository") as err:
            open_repository(str(path), tmp_path / "cache")
        assert "\n" not in str(err.value), what
        code = main(["mine", str(path), "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "cache")])
        captured = capsys.readouterr()
        assert code == 2, what
        assert captured.err.startswith("error: refusing local repository") and captured.err.count("\n") == 1
        assert "Traceback" not in captured.err and not (tmp_path / "o" / "mine.jsonl.gz").exists()
    # nothing of the secret ever reached the mirror cache
    for blob in (tmp_path / "cache").rglob("*"):
        assert not blob.is_file() or b"canary-7f3a" not in blob.read_bytes()


def test_plain_work_tree_and_bare_repository_are_accepted(tmp_path: Path, secret: Path) -> None:
    repo = open_repository(str(secret), tmp_path / "cache")
    assert repo.git("ls-tree", "--name-only", "HEAD").decode() == "secret.py\n"
    bare = tmp_path / "plain.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(secret), str(bare)], check=True, env=git_env())
    assert open_repository(str(bare), tmp_path / "cache").resolve("HEAD") == repo.resolve("HEAD")


# --- commit dates git cannot turn into a sane time (issue 15) -------------------------------


def _raw_commit(git_dir: Path, parent: str | None, ident: str, path: str) -> str:
    """A commit object written byte for byte (fast-import refuses these dates)."""
    env = git_env()

    def git(*args: str, data: bytes | None = None) -> str:
        out = subprocess.run(["git", f"--git-dir={git_dir}", *args], input=data, check=True,
                             capture_output=True, env=env)  # fmt: skip
        return out.stdout.decode().strip()

    blob = git("hash-object", "-w", "--stdin", data=f"{path}\n".encode())
    base = git("ls-tree", parent) if parent else ""
    entries = [line for line in base.splitlines() if line] + [f"100644 blob {blob}\t{path}"]
    tree = git("mktree", data=("\n".join(entries) + "\n").encode())
    body = f"tree {tree}\n" + (f"parent {parent}\n" if parent else "")
    body += f"author {ident}\ncommitter {ident}\n\nc\n"
    sha = git("hash-object", "-t", "commit", "-w", "--literally", "--stdin", data=body.encode())
    git("update-ref", "refs/heads/main", sha)
    return sha


BAD_DATES = {
    "year 33658": ("A <a@example.com> 1000000000000 +0000", MAX_EPOCH),
    "no date": ("A <a@example.com>", MIN_EPOCH),
    "past 64 bits": ("A <a@example.com> 99999999999999999999999 +0000", MAX_EPOCH),
    "past year 9999": ("A <a@example.com> 253402300800 +0000", MAX_EPOCH),
    "fine": ("A <a@example.com> 1700000000 +0000", 1700000000),
}


def test_dates_out_of_range_are_clamped_and_counted(builder: RepoBuilder, tmp_path: Path) -> None:
    parent = builder.commit(write={"first.txt": "1\n"})
    shas = {}
    for n, (what, (ident, _)) in enumerate(BAD_DATES.items()):
        parent = shas[what] = _raw_commit(builder.path, parent, ident, f"f{n}.txt")
    result = mine_repository(str(builder.path), tmp_path / "o", cache_dir=tmp_path / "c")
    assert result.counts["commits"] == 6 and result.counts["dates_clamped"] == 4
    commits = {r.sha: r for r in read_jsonl(result.artifact, MINING_RECORDS) if r.KIND == "commit"}
    for what, (_, epoch) in BAD_DATES.items():
        assert commits[shas[what]].committed_at == datetime.fromtimestamp(epoch, UTC), what
        assert commits[shas[what]].authored_at == datetime.fromtimestamp(epoch, UTC), what
    snapshot = next(r for r in read_jsonl(result.artifact, MINING_RECORDS) if r.KIND == "repo_snapshot")
    assert snapshot.committed_at == datetime.fromtimestamp(1700000000, UTC)
    histories = {r.path: r for r in read_jsonl(result.artifact, MINING_RECORDS) if r.KIND == "file_history"}
    assert histories["f0.txt"].last_changed_at.year == 9999
    assert histories["f1.txt"].first_changed_at.year == 1970


def test_head_commit_with_an_impossible_date_still_mines(
    builder: RepoBuilder, tmp_path: Path, capsys
) -> None:
    parent = builder.commit(write={"a.txt": "1\n"})
    _raw_commit(builder.path, parent, "A <a@example.com> 1000000000000 +0000", "b.txt")
    code = main(["mine", str(builder.path), "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert code == 0 and "dates_clamped   1" in out


# --- .gitattributes patterns that would make a regex backtrack (issue 15) ------------------


def test_hostile_gitattributes_cannot_hang_or_crash(builder: RepoBuilder, open_repo) -> None:
    attrs = "\n".join([
        "*a*a*a*a*a*a*a*a*a*a*a*a*b linguist-generated",
        "**/" * 300 + "*.gen linguist-generated",
        "x[z-a] linguist-vendored",
        "y[ linguist-vendored",
        "z[[:nope:]] linguist-vendored",
        "keep/*.c linguist-vendored",
    ]) + "\n"  # fmt: skip
    builder.commit(write={
        ".gitattributes": attrs,
        "a" * 3000 + ".txt": "x\n",
        "deep/" * 50 + "f.gen": "g\n",
        "keep/v.c": "int x;\n",
        "xz": "x\n",
    })  # fmt: skip
    repo = open_repo(builder)
    notes: list[str] = []
    started = time.monotonic()
    records = {r.path: r for r in iter_inventory(repo, repo.resolve("main"), notes=notes)}
    assert time.monotonic() - started < 5
    assert records["deep/" * 50 + "f.gen"].is_generated
    assert not records["a" * 3000 + ".txt"].is_generated
    assert records["keep/v.c"].is_vendored and not records["xz"].is_vendored
    assert [n.split(" skipped: ")[1] for n in notes] == [
        "reversed range z-a", "unclosed '['", "unknown character class [:nope:]",
    ]  # fmt: skip
    assert notes[0].startswith(".gitattributes:3: pattern 'x[z-a]'")


def test_gitattributes_rule_budget(builder: RepoBuilder, open_repo) -> None:
    lines = "".join(f"f{i}.txt linguist-generated\n" for i in range(MAX_ATTRIBUTE_RULES + 50))
    late = f"f{MAX_ATTRIBUTE_RULES + 10}.txt"
    builder.commit(write={".gitattributes": lines, "f1.txt": "1\n", late: "2\n"})
    repo = open_repo(builder)
    notes: list[str] = []
    records = {r.path: r for r in iter_inventory(repo, repo.resolve("main"), notes=notes)}
    assert records["f1.txt"].is_generated and not records[late].is_generated
    assert len(notes) == 1 and "over the budget" in notes[0]
    assert notes[0].startswith(f".gitattributes:{MAX_ATTRIBUTE_RULES + 1}: ")
    # big trees get fewer rules, so rules x files stays bounded; small ones keep the cap
    assert attribute_rule_budget(3) == MAX_ATTRIBUTE_RULES
    assert attribute_rule_budget(1_000_000) == MIN_ATTRIBUTE_RULES
    assert attribute_rule_budget(50_000) * 50_000 <= MAX_ATTRIBUTE_MATCHES


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.py", "a.py", True), ("a/**/b", "a/b", True), ("a/**/b", "a/x/y/b", True),
        ("a/**", "a/x/y", True), ("a/**", "a", False), ("**/x", "d/e/x", True), ("a*b", "a/b", False),
        ("?b", "/b", False), ("[!a]x", "bx", True), ("[!a]x", "/x", False), ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False), ("x[[:digit:]]", "x5", True), ("[]]x", "]x", True), ("**a", "xa", True),
        ("*a*a*a*a*a*a*b", "a" * 200, False), ("*a*a*b", "xaxab", True),
    ],
)  # fmt: skip
def test_wildmatch_agrees_with_git(pattern: str, path: str, expected: bool) -> None:
    assert Glob(pattern).match(path) is expected
    nfa = Glob(pattern)
    nfa._regex = nfa._literal = None  # the backtracking-free path must agree with the fast one
    assert nfa.match(path) is expected


# --- what reaches the terminal (issue 15) -------------------------------------------------


def test_control_characters_never_reach_the_terminal(tmp_path: Path, capsys, monkeypatch) -> None:
    evil = "\x1b]0;owned\x07\x1b[2J\u202eyp.evil.py"
    builder = RepoBuilder(tmp_path / "src" / "demo.git")
    builder.commit(write={evil: "x = 1\n", "ok.py": "y = 2\n"})
    real = tmp_path / "dir\x1b[31m"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    shutil.move(str(builder.path), str(real / "demo.git"))
    location = str(tmp_path / "link" / "demo.git")
    assert main(["mine", location, "--out", str(tmp_path / "o\x1b[1m"), "--cache", str(tmp_path / "c")]) == 0
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)  # the progress line shows file names
    assert main(["analyse", location, "--out", str(tmp_path / "a"), "--mirrors", str(tmp_path / "c"),
                 "--no-cache"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    for stream in (captured.out, captured.err):
        assert not any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n\r" for ch in stream)
    assert "\\x1b" in captured.err and "\\u202e" in captured.err  # the file name, shown escaped
    assert "o\\x1b[1m" in captured.out and "local/demo-" in captured.out
    assert printable("a\x1bb\u202e\n") == "a\\x1bb\\u202e\\x0a"


# --- git failures in the CLIs: one line, non-zero, no traceback (issue 15) -----------------


@pytest.mark.parametrize(
    "location",
    [
        "https://127.0.0.1:9/nobody/nothing.git",  # unreachable remote (connection refused)
        "ssh://git@blocked.invalid/x/y.git",  # blocked host: no such host, batch-mode ssh
        "git://127.0.0.1:9/x.git",
        "NOT_A_REPO",  # replaced by a plain folder below
        "MISSING",  # replaced by a path that does not exist
    ],
)
def test_cli_git_failures_are_one_line(location: str, tmp_path: Path, capsys) -> None:
    if location == "NOT_A_REPO":
        (tmp_path / "plain").mkdir()
        location = str(tmp_path / "plain")
    elif location == "MISSING":
        location = str(tmp_path / "missing")
    for argv in (
        ["mine", location, "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")],
        ["analyse", location, "--out", str(tmp_path / "a"), "--mirrors", str(tmp_path / "c"), "--quiet"],
    ):
        code = main(argv)
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if not re.match(r"^\d{4}-\d\d-\d\d ", line)]  # log lines
        assert code == 2, argv
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert "Traceback" not in err


def test_cli_refuses_unwritable_output_in_one_line(builder: RepoBuilder, tmp_path: Path, capsys) -> None:
    builder.commit(write={"a.py": "x = 1\n"})
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["mine", str(builder.path), "--out", str(blocker / "o"), "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_skipped_gitattributes_rules_are_counted_by_the_stage(builder: RepoBuilder, tmp_path: Path) -> None:
    attrs = "x[z-a] linguist-vendored\n*.c linguist-vendored\n"
    builder.commit(write={".gitattributes": attrs, "a.c": "int a;\n"})
    result = mine_repository(str(builder.path), tmp_path / "o", cache_dir=tmp_path / "c")
    assert result.counts["gitattr_skipped"] == 1 and result.counts["files"] == 2
    files = {r.path: r for r in read_jsonl(result.artifact, MINING_RECORDS) if r.KIND == "file"}
    assert files["a.c"].is_vendored


def test_log_lines_quoting_repository_content_are_escaped() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(EscapingFilter())
    logger = logging.getLogger("freshpoc.test.escape")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("cannot parse %s: %s", "m\x1b[2J.sql", "bad\u202etoken")
        logger.warning("plain %d", 1)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "cannot parse m\\x1b[2J.sql: bad\\u202etoken\nplain 1\n"


def test_archive_never_reads_the_repositorys_gitattributes(tmp_path: Path) -> None:
    """git archive (the pipeline's snapshot) would match every path against the tree's
    .gitattributes with git's own backtracking wildmatch: minutes for one line (issue 15)."""
    from freshpoc_tasks.mining._git import run_git
    from tests.hostile.corpus import work_tree

    attrs = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b export-ignore\nkeep.txt export-subst\n"
    src = work_tree(tmp_path / "src", {"a" * 200 + ".txt": b"x\n", "keep.txt": b"$Format:%H$\n"},
                    attributes=attrs)
    repo = open_repository(str(src), tmp_path / "cache")
    started = time.monotonic()
    out = run_git(["archive", "--format=tar", "HEAD"], repo.git_dir)
    assert time.monotonic() - started < 10
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        names = {m.name: m for m in tar.getmembers()}
        assert set(names) == {".gitattributes", "a" * 200 + ".txt", "keep.txt"}
        assert tar.extractfile(names["keep.txt"]).read() == b"$Format:%H$\n"  # not substituted


def test_a_local_copy_that_borrows_is_refused_after_the_clone(
    tmp_path: Path, secret: Path, monkeypatch
) -> None:
    """The checks run again on the mirror a local clone copied: alternates added to the source
    between the first check and the copy (simulated by skipping the first) never make a mirror."""
    import freshpoc_tasks.mining.access as access

    alt = _work_tree(tmp_path / "late-alternates", {"ok.py": "x = 1\n"})
    (alt / ".git" / "objects" / "info" / "alternates").write_text(str(secret / ".git" / "objects") + "\n")
    monkeypatch.setattr(access, "local_source", lambda path: str(Path(path) / ".git"))
    with pytest.raises(UnsafeLocationError, match="alternates"):
        open_repository(str(alt), tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]  # nothing kept, not even tmp
