"""The event envelope every stage publishes on Kafka (see ARCHITECTURE: event envelope).

``event_id`` is derived from the stage, repository, commit and run, so a retried task publishes
the same id again and consumers can drop the duplicate; a new run is a new event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import Field

from freshpoc_tasks.contracts.base import Contract

EVENT_NAMESPACE = uuid.UUID("0b7c1d4e-58f2-4f0e-9a0e-2d6f5a3c9e71")

# Stage -> (event type, topic)
STAGE_TOPICS: dict[str, str] = {
    "ingest": "repos.ingested",
    "mine": "code.mined",
    "analyse": "code.analyzed",
    "graph": "graph.applied",
}
DLQ_TOPIC = "freshpoc.dlq"
REQUEST_TOPIC = "repos.requested"
SMOKE_TOPIC = "freshpoc.smoke"  # written and read back by the freshpoc_smoke DAG only
ALL_TOPICS = (REQUEST_TOPIC, *STAGE_TOPICS.values(), DLQ_TOPIC, SMOKE_TOPIC)


class StageEvent(Contract):
    SCHEMA_VERSION: ClassVar[str] = "1.0"
    KIND: ClassVar[str] = "stage_event"

    event_id: str
    type: str
    repo_id: str
    commit: str
    run_id: str
    artifact_uri: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    ts: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def for_stage(cls, stage: str, *, repo_id: str, commit: str, run_id: str,
                  artifact_uri: str | None = None, counts: dict[str, int] | None = None) -> StageEvent:
        event_type = STAGE_TOPICS[stage]
        event_id = str(uuid.uuid5(EVENT_NAMESPACE, f"{event_type}|{repo_id}|{commit}|{run_id}"))
        return cls(event_id=event_id, type=event_type, repo_id=repo_id, commit=commit,
                   run_id=run_id, artifact_uri=artifact_uri, counts=counts or {})


class DeadLetter(Contract):
    """A record that could not be processed, with the reason; nothing is silently dropped."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"
    KIND: ClassVar[str] = "dead_letter"

    stage: str
    repo_id: str | None = None
    commit: str | None = None
    run_id: str | None = None
    reason: str
    payload: str | None = None
    ts: datetime = Field(default_factory=lambda: datetime.now(UTC))


class RepoRequest(Contract):
    """A message on ``repos.requested``: process this repository (at this ref)."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"
    KIND: ClassVar[str] = "repo_request"

    repo: str
    ref: str | None = None
    force: bool = False
