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

from freshpoc_tasks.contracts.locations import BUCKET as DEFAULT_BUCKET
from freshpoc_tasks.contracts.locations import parse_uri, report_key, snapshot_key, staging_key

__all__ = ["DEFAULT_BUCKET", "StagingHook", "parse_uri", "report_key", "snapshot_key", "staging_key"]


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
        bucket, key = parse_uri(uri, self.bucket)
        dest = Path(dest_dir) / Path(key).name
        self.get_conn().download_file(bucket, key, str(dest))
        return dest

    def exists(self, uri: str) -> bool:
        bucket, key = parse_uri(uri, self.bucket)
        return self.check_for_key(key, bucket_name=bucket)
