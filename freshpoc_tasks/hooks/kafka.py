"""Kafka through the Kafka provider's hooks, with the producer settings FreshPoC relies on.

Stage events are keyed by repository and must not be duplicated by a retried send, so the
producer is always idempotent with ``acks=all`` whatever the connection says; consumers get a
group id when the connection has none.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

IDEMPOTENT = {"enable.idempotence": True, "acks": "all", "max.in.flight.requests.per.connection": 5}


class IdempotentProducerHook(KafkaProducerHook):
    """``KafkaProducerHook`` whose producer is idempotent (no duplicates on internal retries)."""

    def _get_client(self, config: dict[str, Any]) -> Any:
        return super()._get_client({**config, **IDEMPOTENT})


class GroupConsumerHook(KafkaConsumerHook):
    """``KafkaConsumerHook`` with a group id and offset policy given by the caller."""

    def __init__(self, topics: list[str], kafka_config_id: str = "freshpoc_kafka",
                 group_id: str = "freshpoc", auto_offset_reset: str = "earliest") -> None:
        super().__init__(topics=topics, kafka_config_id=kafka_config_id)
        self.group_id = group_id
        self.auto_offset_reset = auto_offset_reset

    def _get_client(self, config: dict[str, Any]) -> Any:
        return super()._get_client({"group.id": self.group_id,
                                    "auto.offset.reset": self.auto_offset_reset, **config})
