"""Stage artifacts in MinIO (any S3-compatible store) through the Amazon provider's S3Hook.

Keys follow ARCHITECTURE: ``snapshots/{repo_id}/{commit}.tar.gz`` (the tree) next to
``snapshots/{repo_id}/{commit}.bundle`` (a git bundle: the history, for reprocessing),
``staging/{repo_id}/{commit}/{stage}.jsonl.gz``, ``reports/{repo_id}/{commit}/report.{md,html}``.
Uploads write the whole object at once, so a reader never sees half an artifact, and a rerun
for the same commit overwrites the same key with the same content.
"""

from __future__ import annotations

from pathlib import Path

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

DEFAULT_BUCKET = "freshpoc"


def staging_key(repo_id: str, commit: str, stage: str) -> str:
    return f"staging/{repo_id}/{commit}/{stage}.jsonl.gz"


def snapshot_key(repo_id: str, commit: str, ext: str = "bundle") -> str:
    return f"snapshots/{repo_id}/{commit}.{ext}"


def report_key(repo_id: str, commit: str, ext: str) -> str:
    return f"reports/{repo_id}/{commit}/report.{ext}"


def parse_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class StagingHook(S3Hook):
    """``S3Hook`` bound to FreshPoC's bucket, speaking in ``s3://`` URIs."""

    def __init__(self, aws_conn_id: str = "freshpoc_s3", bucket: str = DEFAULT_BUCKET) -> None:
        super().__init__(aws_conn_id=aws_conn_id)
        self.bucket = bucket

    def put_file(self, path: str | Path, key: str) -> str:
        self.load_file(str(path), key=key, bucket_name=self.bucket, replace=True)
        return f"s3://{self.bucket}/{key}"

    def put_text(self, text: str, key: str, content_type: str = "text/plain") -> str:
        self.load_string(text, key=key, bucket_name=self.bucket, replace=True,
                         encoding="utf-8")
        return f"s3://{self.bucket}/{key}"

    def get_file(self, uri: str, dest_dir: str | Path) -> Path:
        bucket, key = parse_uri(uri)
        dest = Path(dest_dir) / Path(key).name
        self.get_conn().download_file(bucket, key, str(dest))
        return dest

    def exists(self, uri: str) -> bool:
        bucket, key = parse_uri(uri)
        return self.check_for_key(key, bucket_name=bucket)
