"""Read whole Kafka topics back, as the tests' independent witness of what stages published."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any


def _at_end(consumer: Any, topics: list[str]) -> bool:
    """Whether the consumer has its partitions and has read each to the end it has now. A
    partition not read from yet has no position (a negative offset): it is at its end only when
    it is empty. Topics that do not exist (no stage published to them yet) hold nothing."""
    parts = consumer.assignment()
    if not parts:
        # Not handed out yet, unless there is nothing to hand out.
        existing = consumer.list_topics(timeout=10).topics
        return not any(t in existing for t in topics)
    for part in consumer.position(parts):
        low, high = consumer.get_watermark_offsets(part, timeout=10)
        if high > low and part.offset < high:
            return False
    return True


def read_topics(topics: list[str], timeout: float = 120) -> list[tuple[str, dict]]:
    """Every message on ``topics`` from the beginning (a fresh consumer group), JSON-decoded,
    up to the end each partition has when the reading gets there. The end is asked of the
    brokers, not guessed from quiet polls: a fresh group waits for its partitions (Kafka delays
    the first rebalance by 3 s, more on a loaded machine), and five empty one-second polls once
    ended the reading before anything was assigned (0 events of a run that published 8)."""
    from freshpoc_tasks.hooks.kafka import GroupConsumerHook

    consumer = GroupConsumerHook(topics, kafka_config_id="freshpoc_kafka",
                                 group_id=f"freshpoc-test-{uuid.uuid4().hex[:8]}").get_consumer()
    out: list[tuple[str, dict]] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            msgs = consumer.consume(500, timeout=1.0)
            out += [(m.topic(), json.loads(m.value())) for m in msgs if not m.error()]
            if not msgs and _at_end(consumer, topics):
                return out
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topics} did not reach the end of every partition in "
                                   f"{timeout:.0f} s (assigned: {consumer.assignment()})")
    finally:
        consumer.close()
