"""What ``freshpoc restore`` trusts before it replaces a stack's data: the manifest's checksums,
and object keys that can only name files inside the backup's folder. No server involved."""

from __future__ import annotations

import json
import re

import pytest

from freshpoc_tasks.cli import backup as bk
from freshpoc_tasks.cli.main import build_parser


@pytest.fixture
def backup(tmp_path):
    root = tmp_path / "b"
    (root / "dgraph").mkdir(parents=True)
    (root / "dgraph" / "g01.rdf.gz").write_bytes(b"rdf")
    (root / "objects" / "reports" / "r").mkdir(parents=True)
    (root / "objects" / "reports" / "r" / "report.html").write_text("<html>")
    bk.write_manifest(root, {"counts": {}})
    return root


def test_a_backup_checks_out_against_its_own_manifest(backup) -> None:
    manifest = bk.verify_manifest(backup)
    assert sorted(manifest["files"]) == ["dgraph/g01.rdf.gz", "objects/reports/r/report.html"]
    assert manifest["files"]["dgraph/g01.rdf.gz"]["bytes"] == 3


@pytest.mark.parametrize("change", ["alter", "remove"])
def test_an_altered_or_missing_file_is_refused(backup, change) -> None:
    target = backup / "objects" / "reports" / "r" / "report.html"
    if change == "alter":
        target.write_text("<html>changed")
    else:
        target.unlink()
    with pytest.raises(bk.BackupError, match=re.escape("objects/reports/r/report.html")):
        bk.verify_manifest(backup)


def test_a_folder_without_a_manifest_or_of_another_format_is_refused(backup, tmp_path) -> None:
    with pytest.raises(bk.BackupError, match="not a FreshPoC backup"):
        bk.verify_manifest(tmp_path)
    manifest = json.loads((backup / bk.MANIFEST).read_text())
    (backup / bk.MANIFEST).write_text(json.dumps({**manifest, "format": bk.FORMAT + 1}))
    with pytest.raises(bk.BackupError, match="format"):
        bk.verify_manifest(backup)


def test_object_keys_become_files_under_the_objects_folder(tmp_path) -> None:
    key = "snapshots/local/py_inventory-0123abcd/" + "a" * 40 + ".bundle"
    assert bk.object_path(tmp_path, key) == tmp_path / "objects" / key


@pytest.mark.parametrize("key", ["", "../etc/passwd", "reports/../../x", "/abs/key", "a//b", "a/./b", "a/"])
def test_a_key_that_would_leave_the_backup_folder_is_refused(tmp_path, key) -> None:
    with pytest.raises(bk.BackupError, match="cannot be kept"):
        bk.object_path(tmp_path, key)


def test_objects_are_asked_for_and_restored_without_a_flag() -> None:
    parser = build_parser()
    assert parser.parse_args(["backup", "--objects"]).objects is True
    assert parser.parse_args(["backup"]).objects is False
    args = parser.parse_args(["restore", "somewhere", "--yes"])
    assert (args.source, args.yes, args.airflow_metadata) == ("somewhere", True, False)
