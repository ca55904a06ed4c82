"""Publish stage events and dead letters on Kafka through the provider's producer hook.

``publish`` waits for the broker's acknowledgement: an event that cannot be delivered fails the
task, whose retry sends it again (same ``event_id``), so no event is lost while Kafka is down.
"""

from __future__ import annotations

from freshpoc_tasks.contracts.events import DLQ_TOPIC, DeadLetter, StageEvent
from freshpoc_tasks.hooks.kafka import IdempotentProducerHook


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
