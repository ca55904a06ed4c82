"""Read whole Kafka topics back, as the tests' independent witness of what stages published."""

from __future__ import annotations

import json
import uuid


def read_topics(topics: list[str], idle_polls: int = 5) -> list[tuple[str, dict]]:
    """Every message on ``topics`` from the beginning (a fresh consumer group), JSON-decoded;
    stops after ``idle_polls`` empty one-second polls in a row, i.e. at the end of every partition."""
    from freshpoc_tasks.hooks.kafka import GroupConsumerHook

    consumer = GroupConsumerHook(topics, kafka_config_id="freshpoc_kafka",
                                 group_id=f"freshpoc-test-{uuid.uuid4().hex[:8]}").get_consumer()
    out: list[tuple[str, dict]] = []
    idle = 0
    try:
        while idle < idle_polls:
            msgs = consumer.consume(500, timeout=1.0)
            idle = idle + 1 if not msgs else 0
            out += [(m.topic(), json.loads(m.value())) for m in msgs if not m.error()]
    finally:
        consumer.close()
    return out
