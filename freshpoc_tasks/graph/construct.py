"""Building many pydantic models from values that are already typed, cheaply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def construct_fast(cls: type[Any]) -> Callable[..., Any]:
    """``cls.model_construct`` (no validation: the values are typed already), about twice as
    fast (0.34 vs 0.74 s per 100k edge changes), for the hundred thousand diff items of a
    repository's first commit: pydantic's ``model_construct`` walks every field and its
    default in Python per call (3.5 s of an unchanged first commit's 11.7 s rerun, profiled at
    101k records on the loaded machine). Builds the object it would: fields in their declared
    order, the ones not given at their defaults, ``model_fields_set`` the given names. Only for
    models whose defaults are plain values (a default factory would be called per object)."""
    fields = cls.model_fields
    if any(f.default_factory is not None for f in fields.values()):
        raise TypeError(f"{cls.__name__} has a default factory")
    order = tuple(fields)
    defaults = {name: f.get_default() for name, f in fields.items() if not f.is_required()}
    new, put = cls.__new__, object.__setattr__

    def make(**values: Any) -> Any:
        obj = new(cls)
        put(obj, "__dict__", {k: values[k] if k in values else defaults[k] for k in order})
        put(obj, "__pydantic_fields_set__", set(values))
        put(obj, "__pydantic_extra__", None)
        put(obj, "__pydantic_private__", None)
        return obj

    return make
