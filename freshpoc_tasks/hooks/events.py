"""Publish stage events and dead letters on Kafka through the provider's producer hook.

``publish`` waits for the broker's acknowledgement: an event that cannot be delivered fails the
task, whose retry sends it again (same ``event_id``), so no event is lost while Kafka is down.

Dead letters are read back whole (:func:`read_dead_letters`) by ``freshpoc dlq``; what was
re-submitted is remembered per letter in :class:`ReplayLedger`, so replaying twice is a no-op.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from freshpoc_tasks.contracts.events import DLQ_TOPIC, DeadLetter, StageEvent
from freshpoc_tasks.hooks.kafka import GroupConsumerHook, IdempotentProducerHook


class DeliveryError(RuntimeError):
    pass


class EventPublisher:
    def __init__(self, kafka_config_id: str = "freshpoc_kafka", timeout: float = 30) -> None:
        self.kafka_config_id = kafka_config_id
        self.timeout = timeout

    def _send(self, topic: str, key: str, value: str) -> None:
        producer = IdempotentProducerHook(kafka_config_id=self.kafka_config_id).get_producer()
        errors: list[str] = []

        def delivered(err: object, _msg: object) -> None:
            if err is not None:
                errors.append(str(err))

        producer.produce(topic, key=key.encode(), value=value.encode(), on_delivery=delivered)
        remaining = producer.flush(self.timeout)
        if remaining or errors:
            raise DeliveryError(f"event not delivered to {topic}: {errors or 'broker unreachable'}")

    def publish(self, topic: str, event: StageEvent) -> None:
        self._send(topic, event.repo_id, event.to_json_line())

    def dead_letter(self, letter: DeadLetter) -> None:
        self._send(DLQ_TOPIC, letter.repo_id or "unknown", letter.to_json_line())


# Dead letters, read back and replayed ------------------------------------------------------

@dataclass(frozen=True)
class StoredLetter:
    """A dead letter as stored on the topic. ``letter_id`` hashes the stored bytes (which hold
    the letter's own timestamp), so it names this one letter whatever the offsets become."""

    letter_id: str
    partition: int
    offset: int
    letter: dict[str, Any]

    @classmethod
    def from_message(cls, partition: int, offset: int, value: bytes) -> StoredLetter:
        try:
            body = json.loads(value)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"stage": "unknown", "reason": "not a JSON object",
                    "payload": value.decode("utf-8", "replace")[:10000]}
        return cls(hashlib.sha256(value).hexdigest()[:24], partition, offset, body)


def read_dead_letters(kafka_config_id: str = "freshpoc_kafka", timeout: float = 30) -> list[StoredLetter]:
    """Every letter on ``freshpoc.dlq``, from the first offset to the end each partition has
    now (its high watermark), in (partition, offset) order. Commits nothing: reading is free
    of side effects, so ``dlq list`` can run any number of times."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    hook = GroupConsumerHook([DLQ_TOPIC], kafka_config_id=kafka_config_id,
                             group_id=f"freshpoc-dlq-reader-{uuid.uuid4().hex[:8]}")
    consumer = hook.get_consumer()
    letters: list[StoredLetter] = []
    try:
        consumer.unsubscribe()
        meta = consumer.list_topics(DLQ_TOPIC, timeout=timeout).topics.get(DLQ_TOPIC)
        if meta is None or meta.error is not None:
            return []
        ends: dict[int, int] = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(DLQ_TOPIC, p), timeout=timeout)
            if high > low:
                ends[p] = high
        if not ends:
            return []
        consumer.assign([TopicPartition(DLQ_TOPIC, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{DLQ_TOPIC}: partitions {sorted(ends)} not read to the end "
                                   f"within {timeout:.0f}s")
            for msg in consumer.consume(500, timeout=1.0):
                if msg.error():
                    continue
                letters.append(StoredLetter.from_message(msg.partition(), msg.offset(),
                                                         msg.value() or b""))
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
    finally:
        consumer.close()
    return sorted(letters, key=lambda x: (x.partition, x.offset))


REPLAY_DDL = [
    "CREATE SCHEMA IF NOT EXISTS freshpoc",
    """CREATE TABLE IF NOT EXISTS freshpoc.dlq_replays (
        letter_id text PRIMARY KEY,
        topic_partition integer NOT NULL,
        topic_offset bigint NOT NULL,
        stage text NOT NULL,
        repo text,
        dag_id text NOT NULL,
        dag_run_id text NOT NULL,
        replayed_at timestamptz NOT NULL DEFAULT now())""",
]


class ReplayLedger:
    """Which dead letters were re-submitted, and as which DAG run (PostgreSQL, schema
    ``freshpoc``). A letter is in it at most once (primary key), which makes replay idempotent."""

    def __init__(self, postgres_conn_id: str = "freshpoc_postgres") -> None:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        self.hook = PostgresHook(postgres_conn_id=postgres_conn_id)
        self.hook.run(REPLAY_DDL)

    def replayed(self) -> dict[str, str]:
        """letter id -> the DAG run that re-submitted it."""
        rows = self.hook.get_records("SELECT letter_id, dag_run_id FROM freshpoc.dlq_replays")
        return {str(r[0]): str(r[1]) for r in rows}

    def record(self, letters: list[StoredLetter], repo: str | None, dag_id: str, run_id: str) -> None:
        for x in letters:
            self.hook.run(
                "INSERT INTO freshpoc.dlq_replays (letter_id, topic_partition, topic_offset, stage, "
                "repo, dag_id, dag_run_id) VALUES (%(i)s, %(p)s, %(o)s, %(s)s, %(r)s, %(d)s, %(run)s) "
                "ON CONFLICT (letter_id) DO NOTHING",
                parameters={"i": x.letter_id, "p": x.partition, "o": x.offset,
                            "s": str(x.letter.get("stage")), "r": repo, "d": dag_id, "run": run_id})
