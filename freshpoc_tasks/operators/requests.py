"""Accept or refuse messages on ``repos.requested`` (called by the Kafka AwaitMessageTrigger).

A message that is not a valid request goes to the dead-letter topic with the reason instead of
starting a run; a valid one becomes the asset event that schedules ``freshpoc_on_push``.
"""

from __future__ import annotations

import json
from typing import Any


def accept_request(message: Any) -> dict[str, Any] | None:
    from pydantic import ValidationError

    from freshpoc_tasks.contracts.events import DeadLetter, RepoRequest
    from freshpoc_tasks.mining.access import UnsafeLocationError, validate_location

    raw = message.value() or b""
    try:
        body = json.loads(raw)
        request = RepoRequest.model_validate({k: v for k, v in body.items()
                                              if k not in {"kind", "schema_version"}})
        validate_location(request.repo)
    except (ValueError, ValidationError, UnsafeLocationError, AttributeError) as exc:
        try:
            from freshpoc_tasks.hooks.events import EventPublisher

            EventPublisher().dead_letter(DeadLetter(stage="request", reason=str(exc)[:2000],
                                                    payload=raw.decode("utf-8", "replace")[:10000]))
            from freshpoc_tasks.operators.metrics import dead_lettered

            dead_lettered("request", exc)
        except Exception:  # the DLQ is best effort here: never crash the triggerer
            pass
        return None
    return request.model_dump(mode="json")
