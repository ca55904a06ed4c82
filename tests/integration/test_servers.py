"""Every server of the stack, written to and read back through the project's hooks."""

from __future__ import annotations

import uuid

import pytest

from freshpoc_tasks.operators import smoke


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def test_kafka_idempotent_producer_roundtrip(stack, key):
    assert smoke.kafka_roundtrip(key).startswith(f"kafka: {smoke.SMOKE_TOPIC} partition ")


def test_kafka_producer_is_idempotent(stack):
    """librdkafka's statistics show the broker assigned a producer id: idempotence is on."""
    import json
    import time

    from freshpoc_tasks.hooks.kafka import IdempotentProducerHook

    stats: list[dict] = []

    class StatsProbe(IdempotentProducerHook):
        def _get_client(self, config):
            return super()._get_client({**config, "statistics.interval.ms": 200,
                                        "stats_cb": lambda s: stats.append(json.loads(s))})

    producer = StatsProbe(kafka_config_id="freshpoc_kafka").get_producer()
    producer.produce(smoke.SMOKE_TOPIC, key=b"idem", value=b"1")
    assert producer.flush(30) == 0
    deadline = time.monotonic() + 10
    # Statistics arrive every 200 ms; the first ones may predate the broker's answer.
    while time.monotonic() < deadline and not (
            stats and stats[-1].get("eos", {}).get("idemp_state") == "Assigned"):
        producer.poll(0.2)
    eos = stats[-1]["eos"]
    assert eos["idemp_state"] == "Assigned"
    assert eos["producer_id"] >= 0


def test_dgraph_upsert_is_idempotent_and_hostile_strings_roundtrip(stack, key):
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    first = smoke.dgraph_roundtrip(key)
    second = smoke.dgraph_roundtrip(key)
    assert first == second  # same uid: the upsert matched the node instead of creating one
    hostile = 'x") { q(func: has(xid)) { uid } } # $a \n DELETE ' + "é" * 10
    with DgraphHook() as hook:
        data = hook.query("query q($xid: string) { n(func: eq(xid, $xid)) { uid } }",
                          {"$xid": hostile})
    assert data == {"n": []}


def test_minio_roundtrip(stack, key):
    assert smoke.s3_roundtrip(key) == f"minio: s3://freshpoc/smoke/{key}.json"


def test_weaviate_roundtrip_twice_keeps_one_object(stack, key):
    from airflow.providers.weaviate.hooks.weaviate import WeaviateHook

    smoke.weaviate_roundtrip(key)
    smoke.weaviate_roundtrip(key)
    client = WeaviateHook(conn_id="freshpoc_weaviate").get_conn()
    try:
        from weaviate.classes.query import Filter

        coll = client.collections.get(smoke.SMOKE_COLLECTION)
        res = coll.query.fetch_objects(filters=Filter.by_property("key").equal(key), limit=10)
    finally:
        client.close()
    assert len(res.objects) == 1


def test_postgres_roundtrip(stack, key):
    assert smoke.postgres_roundtrip(key) == f"postgres: freshpoc.smoke row {key}"


def test_postgres_has_freshpoc_schema(stack):
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    row = PostgresHook(postgres_conn_id="freshpoc_postgres").get_first(
        "SELECT schema_owner FROM information_schema.schemata WHERE schema_name = 'freshpoc'")
    assert row == ("freshpoc",)


def test_kafka_topics_exist(stack):
    from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

    from freshpoc_tasks.stack.services import KAFKA_TOPICS

    admin = KafkaAdminClientHook(kafka_config_id="freshpoc_kafka").get_conn
    topics = set(admin.list_topics(timeout=10).topics)
    assert set(KAFKA_TOPICS) <= topics
