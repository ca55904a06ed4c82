"""The KRaft cluster id must never look like an option to Kafka's storage tool."""

from __future__ import annotations

import uuid

from freshpoc_tasks.stack import services


def test_cluster_id_redrawn_when_it_would_start_with_a_dash(monkeypatch) -> None:
    # 0xF8.. encodes to '-' as the first URL-safe base64 character: the id a fresh machine drew.
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x01" * 15), uuid.UUID(bytes=b"\x10" * 16)])
    monkeypatch.setattr(services.uuid, "uuid4", lambda: next(draws))
    cluster_id = services._kafka_cluster_id()
    assert cluster_id == "EBAQEBAQEBAQEBAQEBAQEA"
    assert not cluster_id.startswith("-")
