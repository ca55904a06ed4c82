"""Typed hand-offs between stages.

Every record that crosses a stage boundary (JSONL in MinIO, a Kafka event) is a pydantic v2 model
carrying a ``schema_version`` so a consumer can refuse, or migrate, data written by another release.
"""

from freshpoc_tasks.contracts.base import Contract, read_jsonl, write_jsonl

__all__ = ["Contract", "read_jsonl", "write_jsonl"]
