"""freshpoc backup/restore without servers: the manifest is what makes a restore refuse a
damaged or incomplete backup."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from freshpoc_tasks.cli.backup import MANIFEST, BackupError, register, verify_manifest, write_manifest


def backup_folder(root: Path) -> Path:
    (root / "dgraph").mkdir(parents=True)
    (root / "dgraph" / "g01.rdf.gz").write_bytes(b"rdf")
    (root / "postgres").mkdir()
    (root / "postgres" / "freshpoc.dump").write_bytes(b"dump")
    write_manifest(root, {"freshpoc": "x", "counts": {}, "seconds": {}})
    return root


def test_manifest_lists_every_file_with_its_checksum(tmp_path: Path) -> None:
    root = backup_folder(tmp_path / "b")
    manifest = json.loads((root / MANIFEST).read_text())
    assert set(manifest["files"]) == {"dgraph/g01.rdf.gz", "postgres/freshpoc.dump"}
    import hashlib

    assert manifest["files"]["dgraph/g01.rdf.gz"] == {"sha256": hashlib.sha256(b"rdf").hexdigest(),
                                                      "bytes": 3}
    assert verify_manifest(root)["format"] == 1


@pytest.mark.parametrize("damage", ["alter", "remove"])
def test_restore_refuses_a_damaged_backup(tmp_path: Path, damage: str) -> None:
    root = backup_folder(tmp_path / "b")
    target = root / "postgres" / "freshpoc.dump"
    if damage == "alter":
        target.write_bytes(b"dumq")
    else:
        target.unlink()
    with pytest.raises(BackupError, match=r"postgres/freshpoc\.dump"):
        verify_manifest(root)


def test_a_folder_without_manifest_is_not_a_backup(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="not a FreshPoC backup"):
        verify_manifest(tmp_path)


def test_backup_and_restore_are_commands() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["backup", "--to", "s3://b/p"])
    assert args.to == "s3://b/p"
    args = parser.parse_args(["restore", "some/dir", "--yes"])
    assert (args.source, args.yes, args.airflow_metadata) == ("some/dir", True, False)
