"""``freshpoc backup [--to DIR|s3://BUCKET/PREFIX]`` and ``freshpoc restore FROM``.

What a lost disk costs, and what this keeps:

* the graph: Dgraph's own export (RDF + schema, through its ``/admin`` endpoint), loaded back with
  ``dgraph live`` after the target graph is dropped, so uids are new but every ``xid``, edge,
  facet and validity run is the same (the canonical export compares equal);
* the registry and the ledgers: ``pg_dump`` of the ``freshpoc`` database (custom format), and of
  Airflow's metadata database (restored only with ``--airflow-metadata``: Airflow must be stopped
  for that, its schedulers hold the tables);
* the search index: Weaviate's own backup of the ``CodeChunk`` collection (the
  ``backup-filesystem`` module, which the stack enables): the shard files as stored, vectors,
  HNSW graph and BM25 statistics included, so a restored index gives the same hybrid, BM25 and
  vector answers without re-embedding. Weaviate writes it into its backup folder (in the state
  folder); the backup moves it into its own folder, and ``restore`` puts it back there for the
  time of the restore. The collection's object count goes into the manifest and is checked after
  the restore;
* a ``manifest.json`` with the versions of FreshPoC and of each server and the sha256 of every
  file; ``restore`` refuses a backup whose files do not match it.

Order: the registry is dumped first and restored last. A backup taken while a run finishes then
holds at most graph and index data newer than its registry (the run is done again, and every
write is idempotent), never a registry that says "processed" over data the backup lacks; and a
restore that fails half-way leaves the registry empty, so the next run processes everything
again instead of skipping commits whose graph or chunks are gone.

MinIO's snapshots, staged artifacts and reports are copied only with ``--objects``: the
``freshpoc`` bucket has versioning on (the stack's bootstrap turns it on) and an S3 store has its
own replication, but the local stack keeps MinIO's data on the same disk as everything else, and
``freshpoc stack reset`` deletes it with the rest. Without them a restored registry names
snapshots (``snapshot_uri``) and reports that are gone. Only each object's current version is
copied, with its content type. ``restore`` puts the objects back when the backup has them.

What a backup does not hold: Kafka's topics (events already consumed), Prometheus's series,
task logs, and Airflow's Fernet key. ``--airflow-metadata`` restores the metadata database, but
connections and variables in it stay encrypted with the key of the stack that was backed up.
Backup and restore print how long each part took.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freshpoc_tasks.contracts.locations import BUCKET
from freshpoc_tasks.stack.client import one_line_errors, use_local_stack
from freshpoc_tasks.stack.config import StackConfig

MANIFEST = "manifest.json"
FORMAT = 2  # 2: the search index as Weaviate's own backup (1 held its objects as JSON Lines)
COLLECTION = "CodeChunk"
DATABASES = ("freshpoc", "airflow")
OBJECTS = "objects"  # folder of the bucket's objects, one file per key
OBJECT_INDEX = "objects.json"  # key -> content type and size, beside the folder


class BackupError(RuntimeError):
    """A backup or restore step failed; the message says which and why."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    b = subparsers.add_parser(
        "backup", help="back up the graph, the registry and the search index",
        description="Dgraph export (RDF + schema), pg_dump of the freshpoc database and of "
                    "Airflow's metadata, Weaviate's own backup of the CodeChunk collection, and a manifest "
                    "with versions and checksums, into a new folder (or an S3 prefix).")
    b.add_argument("--to", default="freshpoc-backup",
                   help="folder to create (default ./freshpoc-backup/<UTC time>) or "
                        "s3://bucket/prefix (written through the freshpoc_s3 connection)")
    b.add_argument("--objects", action="store_true",
                   help="also copy the freshpoc bucket's current objects (snapshots, staged "
                        "artifacts, reports): on the local stack they are on the same disk")
    b.set_defaults(func=_backup_command)
    r = subparsers.add_parser(
        "restore", help="restore a backup into the stack (replaces its graph and search index)",
        description="Check the backup against its manifest, then replace the graph, the "
                    "freshpoc database and the CodeChunk collection with the backup's, and put "
                    "back the bucket's objects when the backup has them. Meant for a stack just "
                    "reset and brought up again (freshpoc stack reset; stack up).")
    r.add_argument("source", metavar="FROM", help="backup folder or s3://bucket/prefix")
    r.add_argument("--yes", action="store_true",
                   help="do not ask before replacing the stack's graph, registry and search index")
    r.add_argument("--airflow-metadata", action="store_true",
                   help="also restore Airflow's metadata database (stop Airflow's programs first)")
    r.set_defaults(func=_restore_command)


# Helpers ------------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(root: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Checksums of every file under ``root`` (but the manifest), with ``meta``."""
    files = {str(p.relative_to(root)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
             for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST}
    manifest = {"format": FORMAT, **meta, "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def verify_manifest(root: Path) -> dict[str, Any]:
    """The manifest, after checking every file it lists (and nothing missing or altered)."""
    path = root / MANIFEST
    if not path.exists():
        raise BackupError(f"{root} holds no {MANIFEST}: not a FreshPoC backup")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r}, this FreshPoC reads {FORMAT}")
    bad = [name for name, info in manifest["files"].items()
           if not (root / name).is_file() or sha256_file(root / name) != info["sha256"]]
    if bad:
        raise BackupError(f"files missing or altered since the backup: {', '.join(sorted(bad))}")
    return manifest


def _pg(cfg: StackConfig, tool: str) -> list[str]:
    """A PostgreSQL client of the stack's version, as its superuser over the Unix socket."""
    binary = Path(f"/usr/lib/postgresql/{cfg.versions['postgres']}/bin") / tool
    return [str(binary), "-h", str(cfg.data("postgres") / "run"), "-p", str(cfg.ports["postgres"]),
            "-U", "postgres"]


def _run(what: str, cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise BackupError(f"{what} failed: {' / '.join(tail)}")


def _dgraph_http(cfg: StackConfig, path: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{cfg.ports['dgraph_http']}{path}",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        answer = json.loads(resp.read())
    if answer.get("errors"):
        raise BackupError(f"Dgraph {path}: {answer['errors']}")
    return answer


# Parts --------------------------------------------------------------------------------------
def backup_dgraph(cfg: StackConfig, out: Path) -> dict[str, Any]:
    """Dgraph's export (RDF, schema) written by the alpha into ``out/dgraph``."""
    target = out / "dgraph"
    target.mkdir(parents=True)
    answer = _dgraph_http(cfg, "/admin", {
        "query": 'mutation export($d: String!) { export(input: {format: "rdf", destination: $d}) '
                 "{ response { code message } taskId } }",
        "variables": {"d": str(target)}})
    task = ((answer.get("data") or {}).get("export") or {}).get("taskId")
    if not task:
        raise BackupError(f"Dgraph queued no export task: {answer}")
    _wait_for_task(cfg, task)
    found = _export_files(target)
    for name in ("g01.rdf.gz", "g01.schema.gz"):
        if name not in found:
            raise BackupError(f"Dgraph's export wrote no {name}: {answer}")
    for name, path in found.items():
        path.replace(target / name)
    for leftover in [p for p in target.iterdir() if p.is_dir()]:
        shutil.rmtree(leftover)
    with gzip.open(target / "g01.rdf.gz", "rt") as fh:
        quads = sum(1 for _ in fh)
    return {"dgraph_rdf_quads": quads}


def _wait_for_task(cfg: StackConfig, task: str, timeout: float = 900) -> None:
    """Wait until Dgraph reports its export task done. The export mutation only queues the task
    ("Export queued with ID ..."): its files exist, and are complete gzip streams, before the
    export has written them in full (a CI backup read 0 quads, then its checksums no longer
    matched the files Dgraph went on writing)."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        answer = _dgraph_http(cfg, "/admin", {
            "query": "query task($id: String!) { task(input: {id: $id}) { status } }",
            "variables": {"id": task}})
        status = ((answer.get("data") or {}).get("task") or {}).get("status")
        if status == "Success":
            return
        if status == "Failed":
            raise BackupError(f"Dgraph's export task {task} failed (see the alpha's log)")
        time.sleep(0.5)  # Queued, Running (or not known yet)
    raise BackupError(f"Dgraph's export task {task} not done within {timeout:.0f} s (last: {status})")


def _export_files(target: Path) -> dict[str, Path]:
    """The finished export's files by name (Dgraph writes them in a ``dgraph.r<ts>...`` folder),
    each checked to be a whole gzip stream."""
    found = {p.name: p for p in target.rglob("*.gz")}
    for path in found.values():
        try:
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except (EOFError, OSError) as exc:
            raise BackupError(f"Dgraph's export file {path.name} is not a whole gzip: {exc}") from exc
    return found


def backup_postgres(cfg: StackConfig, out: Path) -> dict[str, Any]:
    target = out / "postgres"
    target.mkdir(parents=True)
    for db in DATABASES:
        _run(f"pg_dump of {db}", [*_pg(cfg, "pg_dump"), "-Fc", "-d", db, "-f", str(target / f"{db}.dump")])
    return {}


def _weaviate_backup(hook: Any, backup_id: str, restore: bool) -> None:
    """Create or restore Weaviate backup ``backup_id`` of the hook's collection on the filesystem
    backend, waiting for it; raises with Weaviate's own reason when it does not succeed."""
    from weaviate.backup.backup import BackupStorage

    verb = hook.conn.backup.restore if restore else hook.conn.backup.create
    answer = verb(backup_id=backup_id, backend=BackupStorage.FILESYSTEM,
                  include_collections=[hook.collection_name], wait_for_completion=True)
    status = str(getattr(answer.status, "value", answer.status))
    if status != "SUCCESS":
        what = "restore" if restore else "backup"
        raise BackupError(f"Weaviate's {what} {backup_id} ended {status}: {answer.error}")


def backup_weaviate(cfg: StackConfig, out: Path, conn_id: str = "freshpoc_weaviate",
                    collection: str = COLLECTION) -> dict[str, Any]:
    """Weaviate's backup of ``collection`` into ``out/weaviate/<backup id>``, and its object
    count (none when the stack holds no collection yet: nothing to back up)."""
    import uuid

    from freshpoc_tasks.hooks.weaviate import CodeChunkHook
    from freshpoc_tasks.stack.services import weaviate_backups

    target = out / "weaviate"
    target.mkdir(parents=True)
    with CodeChunkHook(conn_id=conn_id, collection=collection) as hook:
        if not hook.conn.collections.exists(collection):
            return {"weaviate_objects": 0, "weaviate_backup": None}
        count = hook.count()
        backup_id = f"freshpoc-{datetime.now(UTC):%Y%m%dt%H%M%S}-{uuid.uuid4().hex[:8]}"
        _weaviate_backup(hook, backup_id, restore=False)
    made = weaviate_backups(cfg) / backup_id
    if not made.is_dir():
        raise BackupError(f"Weaviate reported backup {backup_id} done but {made} does not exist")
    shutil.move(str(made), str(target / backup_id))  # out of the state folder: a reset clears it
    return {"weaviate_objects": count, "weaviate_backup": backup_id}


def object_path(root: Path, key: str) -> Path:
    """Where the copy of the object ``key`` lives in a backup; refuses a key that would name a
    file outside the backup's folder (``..``, an absolute path, empty segments)."""
    parts = key.split("/")
    if not key or any(part in {"", ".", ".."} for part in parts):
        raise BackupError(f"object key {key!r} cannot be kept as a file in a backup")
    return root / OBJECTS / Path(*parts)


def backup_objects(out: Path, conn_id: str = "freshpoc_s3", bucket: str = BUCKET,
                   skip_prefix: str | None = None) -> dict[str, Any]:
    """The bucket's current objects into ``out/objects``, their content types in
    ``out/objects.json`` (a report served from MinIO keeps ``text/html``). ``skip_prefix``: keys
    left out (a backup written into the same bucket must not copy earlier backups)."""
    from freshpoc_tasks.hooks.staging import StagingHook

    client = StagingHook(conn_id, bucket).get_conn()
    index: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            if skip_prefix and key.startswith(skip_prefix):
                continue
            dest = object_path(out, key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            answer = client.get_object(Bucket=bucket, Key=key)
            with dest.open("wb") as fh:
                shutil.copyfileobj(answer["Body"], fh, 1 << 20)
            index[key] = {"content_type": answer.get("ContentType"), "bytes": dest.stat().st_size}
    (out / OBJECT_INDEX).write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return {"objects": len(index), "object_bytes": sum(i["bytes"] for i in index.values())}


def restore_objects(root: Path, conn_id: str = "freshpoc_s3", bucket: str = BUCKET) -> int:
    """Upload every object of the backup under its key, with its content type; objects the
    bucket holds and the backup does not are left alone (the bucket keeps versions)."""
    from freshpoc_tasks.hooks.staging import StagingHook

    client = StagingHook(conn_id, bucket).get_conn()
    index = json.loads((root / OBJECT_INDEX).read_text())
    for key, info in sorted(index.items()):
        extra = {"ContentType": info["content_type"]} if info.get("content_type") else None
        client.upload_file(str(object_path(root, key)), bucket, key, ExtraArgs=extra)
    return len(index)


def restore_dgraph(cfg: StackConfig, root: Path) -> None:
    """Drop the target graph, then load the export with its schema (new uids, same xids)."""
    from freshpoc_tasks.stack.build import build_dgraph

    _dgraph_http(cfg, "/alter", {"drop_all": True})
    binary = build_dgraph(cfg)
    with tempfile.TemporaryDirectory(prefix="freshpoc-restore-") as tmp:
        _run("dgraph live", [str(binary), "live", "--files", str(root / "dgraph" / "g01.rdf.gz"),
                             "--schema", str(root / "dgraph" / "g01.schema.gz"),
                             "--alpha", f"127.0.0.1:{cfg.ports['dgraph_grpc']}",
                             "--zero", f"127.0.0.1:{cfg.ports['dgraph_zero_grpc']}",
                             "--new_uids", "--xidmap", str(Path(tmp) / "xidmap")])


def restore_postgres(cfg: StackConfig, root: Path, db: str, into: str | None = None) -> None:
    """``pg_restore --clean`` of one database's dump (into another database when ``into``)."""
    dump = root / "postgres" / f"{db}.dump"
    _run(f"pg_restore of {db}", [*_pg(cfg, "pg_restore"), "-d", into or db, "--clean", "--if-exists",
                                 "--single-transaction", str(dump)])


def restore_weaviate(cfg: StackConfig, root: Path, counts: dict[str, Any],
                     conn_id: str = "freshpoc_weaviate", collection: str = COLLECTION) -> int:
    """Replace ``collection`` with the backup's (dropped and left out when the backup had none);
    returns the restored object count, checked against the count taken at backup time."""
    from freshpoc_tasks.hooks.weaviate import CodeChunkHook
    from freshpoc_tasks.stack.services import weaviate_backups

    backup_id = counts.get("weaviate_backup")
    with CodeChunkHook(conn_id=conn_id, collection=collection) as hook:
        if hook.conn.collections.exists(collection):
            hook.drop_collection()  # Weaviate restores a collection only where none exists
        if not backup_id:
            return 0
        staged = weaviate_backups(cfg) / backup_id
        if staged.exists():
            shutil.rmtree(staged)
        shutil.copytree(root / "weaviate" / backup_id, staged)
        try:
            _weaviate_backup(hook, backup_id, restore=True)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        restored = hook.count()
    if restored != counts.get("weaviate_objects"):
        raise BackupError(f"Weaviate restored {restored} {collection} objects, the backup "
                          f"counted {counts.get('weaviate_objects')}")
    return restored


# Commands -----------------------------------------------------------------------------------
def _timed(timings: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    start = time.monotonic()
    try:
        return fn()
    finally:
        timings[name] = round(time.monotonic() - start, 2)
        print(f"    {name}: {timings[name]:.1f} s", flush=True)


def make_backup(cfg: StackConfig, out: Path, objects: bool = False,
                skip_prefix: str | None = None) -> dict[str, Any]:
    """Everything into a new folder ``out`` (the bucket's objects too when ``objects``); returns
    the manifest."""
    from freshpoc_tasks import __version__

    out.mkdir(parents=True, exist_ok=False)
    timings: dict[str, float] = {}
    counts: dict[str, Any] = {}
    # The registry first: see the module's docstring for why.
    counts |= _timed(timings, "postgres", lambda: backup_postgres(cfg, out))
    counts |= _timed(timings, "dgraph", lambda: backup_dgraph(cfg, out))
    counts |= _timed(timings, "weaviate", lambda: backup_weaviate(cfg, out))
    if objects:
        counts |= _timed(timings, "objects", lambda: backup_objects(out, skip_prefix=skip_prefix))
    return write_manifest(out, {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "freshpoc": __version__,
        "versions": {k: cfg.versions[k] for k in ("dgraph", "postgres", "weaviate", "airflow")},
        "counts": counts, "seconds": timings})


def restore_backup(cfg: StackConfig, root: Path, airflow_metadata: bool = False) -> dict[str, float]:
    manifest = verify_manifest(root)
    timings: dict[str, float] = {}
    _timed(timings, "dgraph", lambda: restore_dgraph(cfg, root))
    _timed(timings, "weaviate", lambda: restore_weaviate(cfg, root, manifest["counts"]))
    if (root / OBJECT_INDEX).exists():
        _timed(timings, "objects", lambda: restore_objects(root))
    if airflow_metadata:
        _timed(timings, "airflow metadata", lambda: restore_postgres(cfg, root, "airflow"))
    # The registry last: a restore that fails before this point leaves it empty, and the next
    # run processes every commit again rather than skipping ones whose graph or chunks are gone.
    _timed(timings, "postgres", lambda: restore_postgres(cfg, root, "freshpoc"))
    return timings


def _s3(uri: str) -> tuple[Any, str, str]:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return S3Hook(aws_conn_id="freshpoc_s3").get_conn(), bucket, prefix.strip("/")


@one_line_errors
def _backup_command(args: argparse.Namespace) -> int:
    cfg = StackConfig.from_env()
    use_local_stack(cfg)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    remote = args.to.startswith("s3://")
    with tempfile.TemporaryDirectory(prefix="freshpoc-backup-") as tmp:
        out = Path(tmp) / stamp if remote else Path(args.to) / stamp
        print(f"==> backing up to {args.to.rstrip('/')}/{stamp}", flush=True)
        start = time.monotonic()
        skip = None
        if remote and args.objects:
            bucket, _, prefix = args.to.removeprefix("s3://").partition("/")
            skip = prefix.strip("/") + "/" if bucket == BUCKET else None
        manifest = make_backup(cfg, out, objects=args.objects, skip_prefix=skip)
        if remote:
            client, bucket, prefix = _s3(args.to)
            for name in [*manifest["files"], MANIFEST]:
                client.upload_file(str(out / name), bucket, "/".join(p for p in (prefix, stamp, name) if p))
        print(f"backup done in {time.monotonic() - start:.1f} s: {json.dumps(manifest['counts'])}")
    return 0


@one_line_errors
def _restore_command(args: argparse.Namespace) -> int:
    cfg = StackConfig.from_env()
    use_local_stack(cfg)
    if not args.yes:
        if not sys.stdin.isatty():
            raise BackupError("restore replaces the stack's graph, registry and search index; pass --yes")
        if input(f"Replace the stack's data with {args.source}? [y/N] ").strip().lower() not in {"y", "yes"}:
            print("nothing restored")
            return 1
    with tempfile.TemporaryDirectory(prefix="freshpoc-restore-") as tmp:
        root = Path(args.source)
        if args.source.startswith("s3://"):
            client, bucket, prefix = _s3(args.source)
            root = Path(tmp)
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
                for obj in page.get("Contents", []):
                    dest = root / obj["Key"][len(prefix) + 1:]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(bucket, obj["Key"], str(dest))
        print(f"==> restoring {args.source}", flush=True)
        start = time.monotonic()
        restore_backup(cfg, root, airflow_metadata=args.airflow_metadata)
        print(f"restore done in {time.monotonic() - start:.1f} s")
    return 0
