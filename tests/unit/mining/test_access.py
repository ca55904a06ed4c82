from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from freshpoc_tasks.mining._git import GitError, run_git
from freshpoc_tasks.mining.access import (
    Credentials,
    RefNotFoundError,
    UnsafeLocationError,
    open_repository,
    redact,
    repo_id_for,
    validate_location,
)
from freshpoc_tasks.testing import RepoBuilder


@pytest.mark.parametrize(
    "location",
    [
        "",
        "   ",
        "ext::sh -c touch% /tmp/pwned",
        "EXT::sh -c id",
        "fd::17",
        "-uhttps://example.com/x.git",
        "--upload-pack=touch /tmp/pwned",
        "ssh://-oProxyCommand=touch%20/tmp/pwned/x",
        "ssh://host/-x.git",
        "file:///etc",
        "http://example.com/a/b.git",
        "ftp://example.com/a.git",
        "https://tok3n@github.com/a/b.git",
        "https://user:secret@github.com/a/b.git",
        "https://github.com/",
        "https:///a/b",
        "https://exa mple.com/a",
        "relative/path",
        "repo",
        "git@-host:a/b",
        "host:-x",
        "https://github.com/a/b\n--upload-pack=x",
    ],
)
def test_unsafe_locations_are_refused(location: str) -> None:
    with pytest.raises(UnsafeLocationError) as err:
        validate_location(location)
    assert "secret" not in str(err.value)


@pytest.mark.parametrize(
    ("location", "repo_id"),
    [
        ("https://github.com/pallets/flask", "github.com/pallets/flask"),
        ("https://GitHub.com/pallets/flask.git/", "github.com/pallets/flask"),
        ("git@github.com:pallets/flask.git", "github.com/pallets/flask"),
        ("ssh://git@gitlab.example.org:2222/group/sub/proj.git", "gitlab.example.org/group/sub/proj"),
        ("git://example.org/x.git", "example.org/x"),
    ],
)
def test_safe_remote_locations_and_repo_ids(location: str, repo_id: str) -> None:
    assert validate_location(location) == location.strip()
    assert repo_id_for(validate_location(location)) == repo_id


def _local_id(path: Path, name: str) -> str:
    return f"local/{name}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"


def test_local_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    RepoBuilder(tmp_path / "proj.git").commit(write={"a": "1\n"})
    (tmp_path / "plain").mkdir()
    monkeypatch.chdir(tmp_path)
    assert validate_location("./proj.git") == str(tmp_path / "proj.git")
    assert repo_id_for(validate_location("./proj.git")) == _local_id(tmp_path / "proj.git", "proj")
    with pytest.raises(UnsafeLocationError, match="not a directory"):
        validate_location("./missing")
    with pytest.raises(UnsafeLocationError, match="not a git repository"):
        validate_location("./plain")


def test_local_repo_ids_are_unique_per_real_location(tmp_path: Path) -> None:
    """Two folders named alike get different ids; one folder always gets the same id."""
    a = RepoBuilder(tmp_path / "a" / "proj")
    b = RepoBuilder(tmp_path / "b" / "proj")
    a.commit(write={"a.txt": "a\n"})
    b.commit(write={"b.txt": "b\n"})
    (tmp_path / "alias").symlink_to(tmp_path / "a")
    ra = open_repository(str(a.path), tmp_path / "cache")
    rb = open_repository(str(b.path), tmp_path / "cache")
    assert ra.repo_id == _local_id(a.path, "proj") and rb.repo_id == _local_id(b.path, "proj")
    assert ra.repo_id != rb.repo_id and ra.git_dir != rb.git_dir
    assert re.fullmatch(r"local/proj-[0-9a-f]{8}", ra.repo_id)
    assert repo_id_for(str(tmp_path / "alias" / "proj")) == ra.repo_id  # the real location counts
    assert rb.git("ls-tree", "--name-only", "HEAD").decode() == "b.txt\n"


def test_password_is_redacted_and_credentials_repr_hides_token() -> None:
    assert redact("ssh://me:hunter2@host/x") == "ssh://me:***@host/x"
    assert "s3cr3t" not in repr(Credentials(token="s3cr3t"))


def test_ext_transport_blocked_even_if_validation_were_bypassed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(GitError):
        run_git(["clone", "--bare", f"ext::sh -c touch% {marker}", str(tmp_path / "out")])
    assert not marker.exists()


def test_clone_fetch_resolve(builder: RepoBuilder, tmp_path: Path) -> None:
    first = builder.commit(write={"a.txt": "1\n"}, date="2024-03-01T12:00:00+00:00")
    second = builder.commit(write={"a.txt": "2\n"}, date="2024-03-05T12:00:00+00:00")
    repo = open_repository(str(builder.path), tmp_path / "cache")
    assert repo.repo_id == _local_id(builder.path, "demo")
    assert repo.git_dir.parent == tmp_path / "cache"
    assert not any((repo.git_dir / "hooks").glob("*"))  # empty template: no sample hooks
    assert repo.resolve("main") == second
    assert repo.resolve(first[:10]) == first
    assert repo.resolve_as_of(datetime(2024, 3, 3, tzinfo=UTC)) == first
    assert repo.resolve_as_of(datetime(2024, 3, 5, 12, 0)) == second  # naive means UTC
    with pytest.raises(RefNotFoundError):
        repo.resolve_as_of(datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(RefNotFoundError):
        repo.resolve("--output=/tmp/x")
    with pytest.raises(RefNotFoundError):
        repo.resolve("no-such-branch")

    third = builder.commit(write={"b.txt": "3\n"})
    again = open_repository(str(builder.path), tmp_path / "cache")
    assert again.git_dir == repo.git_dir
    assert again.resolve("main") == third


def test_read_blobs_streams_in_request_order(builder: RepoBuilder, open_repo) -> None:
    builder.commit(write={"a": "alpha\n", "b": b"\0\xff", "c": "alpha\n"})
    repo = open_repo(builder)
    tree = builder.git("ls-tree", "main").split("\n")
    shas = [line.split()[2] for line in tree if line]
    got = list(repo.read_blobs([shas[1], shas[0], "0" * 40, shas[2]]))
    assert got == [(shas[1], b"\0\xff"), (shas[0], b"alpha\n"), (shas[2], b"alpha\n")]


def test_a_git_bundle_file_opens_as_a_repository(builder: RepoBuilder, tmp_path: Path) -> None:
    """What the operators restore from a staged snapshot: self-contained, so it is accepted."""
    sha = builder.commit(write={"a.txt": "1\n"})
    bundle = tmp_path / f"{sha}.bundle"
    builder.git("bundle", "create", str(bundle), "main")
    repo = open_repository(str(bundle), tmp_path / "cache")
    assert repo.resolve("main") == sha
    assert repo.repo_id == _local_id(bundle, sha)
    not_a_bundle = tmp_path / "x.bundle"
    not_a_bundle.write_text("# v9 git bundle\n")
    with pytest.raises(UnsafeLocationError, match="not a directory"):
        open_repository(str(not_a_bundle), tmp_path / "cache")
