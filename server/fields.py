"""Constrained field types shared by the API schemas."""

from __future__ import annotations

import json
import math
from datetime import time
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema


def refuse_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it up front with a clear message.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


MAX_JSON_OBJECT_BYTES = 16 * 1024
# The largest id a BIGINT column holds: a larger one in a path or query is a 422, not a 500.
MAX_ROW_ID = 2**63 - 1


def _json_safe(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        raise ValueError("is nested too deeply (at most 8 levels)")
    if isinstance(value, str):
        refuse_nul(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must not contain NaN or Infinity")
    elif isinstance(value, dict):
        for key, inner in value.items():
            refuse_nul(key)
            _json_safe(inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            _json_safe(inner, depth + 1)
    return value


def _small_json_object(value: dict[str, Any]) -> dict[str, Any]:
    _json_safe(value)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_JSON_OBJECT_BYTES:
        raise ValueError(f"is larger than {MAX_JSON_OBJECT_BYTES // 1024} KB")
    return value


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
    AfterValidator(refuse_nul),
]
ShortText = Annotated[
    str, StringConstraints(max_length=64, strip_whitespace=True), AfterValidator(refuse_nul)
]
Code = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
BarcodeText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(refuse_nul),
    Field(description="A scanned code (an internal Handoff ID, e.g. BX…)"),
]
Password = Annotated[
    str, StringConstraints(min_length=8, max_length=200), AfterValidator(refuse_nul)
]
JsonObject = Annotated[dict[str, Any], AfterValidator(_small_json_object)]


def _local(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("is a local time of day (HH:MM or HH:MM:SS) without a UTC offset")
    return value


# JSON Schema's "time" format is RFC 3339's full-time, which requires an offset; opening hours
# are local to the consortium's time zone, so the document says what is actually sent.
LocalTime = Annotated[
    time,
    AfterValidator(_local),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
            "description": "A local time of day in the consortium's time zone, HH:MM[:SS]",
            "examples": ["08:00:00"],
        }
    ),
]
