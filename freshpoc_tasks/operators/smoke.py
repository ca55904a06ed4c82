"""Round trips through every server, used by the ``freshpoc_smoke`` DAG and the stack tests.

Each function writes one item through the project's hooks (the providers' own hooks where they
exist), reads it back, raises if what came back differs, and returns ``"<server>: <detail>"``.
They are idempotent: rerunning with the same key rewrites the same item.
"""

from __future__ import annotations

import json
import time
import uuid

from freshpoc_tasks.contracts.events import SMOKE_TOPIC
from freshpoc_tasks.contracts.locations import BUCKET

SMOKE_COLLECTION = "FreshpocSmoke"
NAMESPACE = uuid.UUID("6f0b2a5e-3c1d-4d7e-9a55-0f5b6f2a9c11")


def _key(run_id: str | None) -> str:
    return run_id or f"adhoc-{uuid.uuid4().hex[:12]}"


class SmokeError(RuntimeError):
    pass


def kafka_roundtrip(run_id: str | None, conn_id: str = "freshpoc_kafka", timeout: float = 60) -> str:
    from freshpoc_tasks.hooks.kafka import GroupConsumerHook, IdempotentProducerHook

    key = _key(run_id)
    value = json.dumps({"smoke": key, "ts": time.time()})
    producer = IdempotentProducerHook(kafka_config_id=conn_id).get_producer()
    errors: list[str] = []
    producer.produce(SMOKE_TOPIC, key=key.encode(), value=value.encode(),
                     on_delivery=lambda err, _msg: err and errors.append(str(err)))
    if producer.flush(30) != 0 or errors:
        raise SmokeError(f"kafka: delivery failed: {errors or 'flush timed out'}")
    # A fresh group reads from the start and stops at our message: proof it was stored.
    consumer = GroupConsumerHook([SMOKE_TOPIC], kafka_config_id=conn_id,
                                 group_id=f"freshpoc-smoke-{uuid.uuid4().hex[:8]}").get_consumer()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            if msg.key() == key.encode() and msg.value() == value.encode():
                return f"kafka: {SMOKE_TOPIC} partition {msg.partition()} offset {msg.offset()}"
    finally:
        consumer.close()
    raise SmokeError(f"kafka: message {key} not read back within {timeout:.0f}s")


def dgraph_roundtrip(run_id: str | None, conn_id: str = "freshpoc_dgraph") -> str:
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    key = f"smoke:{_key(run_id)}"
    with DgraphHook(conn_id) as hook:
        hook.alter_schema("xid: string @index(exact) @upsert .\nsmoke_note: string .")
        note = 'round trip with "quotes", {braces} and $dollar'
        hook.upsert(
            query="query q($xid: string) { n as var(func: eq(xid, $xid)) }",
            mutations=[{"set_json": {"uid": "uid(n)", "xid": key, "smoke_note": note}}],
            variables={"$xid": key},
        )
        data = hook.query("query q($xid: string) { n(func: eq(xid, $xid)) { uid xid smoke_note } }",
                          {"$xid": key})
    nodes = data.get("n", [])
    if len(nodes) != 1 or nodes[0].get("smoke_note") != note:
        raise SmokeError(f"dgraph: expected one node {key} with the note, got {nodes}")
    return f"dgraph: node {nodes[0]['uid']} xid={key}"


def s3_roundtrip(run_id: str | None, conn_id: str = "freshpoc_s3", bucket: str = BUCKET) -> str:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=conn_id)
    key = f"smoke/{_key(run_id)}.json"
    body = json.dumps({"smoke": key})
    hook.load_string(body, key=key, bucket_name=bucket, replace=True)
    back = hook.read_key(key, bucket_name=bucket)
    if back != body:
        raise SmokeError(f"minio: read back {back!r}, wrote {body!r}")
    return f"minio: s3://{bucket}/{key}"


def weaviate_roundtrip(run_id: str | None, conn_id: str = "freshpoc_weaviate") -> str:
    from airflow.providers.weaviate.hooks.weaviate import WeaviateHook
    from weaviate.classes.config import Configure, DataType, Property

    key = _key(run_id)
    obj_id = uuid.uuid5(NAMESPACE, key)
    hook = WeaviateHook(conn_id=conn_id)
    client = hook.get_conn()
    try:
        if not client.collections.exists(SMOKE_COLLECTION):
            client.collections.create(
                SMOKE_COLLECTION,
                vector_config=Configure.Vectors.self_provided(),
                properties=[Property(name="key", data_type=DataType.TEXT)],
            )
        coll = client.collections.get(SMOKE_COLLECTION)
        vector = [0.1, 0.2, 0.3, 0.4]
        if coll.data.exists(obj_id):
            coll.data.replace(uuid=obj_id, properties={"key": key}, vector=vector)
        else:
            coll.data.insert(properties={"key": key}, uuid=obj_id, vector=vector)
        got = coll.query.fetch_object_by_id(obj_id, include_vector=True)
    finally:
        client.close()
    if got is None or got.properties.get("key") != key:
        raise SmokeError(f"weaviate: object {obj_id} not read back")
    return f"weaviate: {SMOKE_COLLECTION}/{obj_id}"


def postgres_roundtrip(run_id: str | None, conn_id: str = "freshpoc_postgres") -> str:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    key = _key(run_id)
    hook = PostgresHook(postgres_conn_id=conn_id)
    hook.run(
        [
            "CREATE SCHEMA IF NOT EXISTS freshpoc",
            "CREATE TABLE IF NOT EXISTS freshpoc.smoke (run_id text PRIMARY KEY, "
            "seen_at timestamptz NOT NULL DEFAULT now())",
            "INSERT INTO freshpoc.smoke (run_id) VALUES (%(k)s) "
            "ON CONFLICT (run_id) DO UPDATE SET seen_at = now()",
        ],
        parameters={"k": key},
    )
    row = hook.get_first("SELECT run_id FROM freshpoc.smoke WHERE run_id = %(k)s", parameters={"k": key})
    if not row or row[0] != key:
        raise SmokeError(f"postgres: row {key} not read back")
    return f"postgres: freshpoc.smoke row {key}"
