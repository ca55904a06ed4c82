"""Operator extra links: from a task in the Airflow UI to the artifact it staged in MinIO."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

from freshpoc_tasks.contracts.locations import parse_uri


class StagedArtifactLink(BaseOperatorLink):
    """Opens the object browser of the S3-compatible store at the task's staged artifact.

    The stage operators set ``artifact_uri`` in ``execute``; Airflow computes the link right
    after, in the same process, and keeps it with the task instance.
    """

    name = "Staged artifact"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        uri = getattr(operator, "artifact_uri", None)
        if not uri:
            return ""
        bucket, key = parse_uri(uri)
        console = os.environ.get("FRESHPOC_S3_CONSOLE_URL", "http://127.0.0.1:9001").rstrip("/")
        return f"{console}/browser/{quote(bucket)}/{quote(key, safe='')}"
