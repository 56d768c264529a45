"""A flag on a stored event: a code and the facts a message is rendered from (plain Python)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Flag:
    """Why an event breaks a rule. ``params`` hold codes and values, never sentences,
    so the message catalogue can say it in Chinese or English."""

    code: str
    params: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Flag:
        return cls(str(data["code"]), {str(k): str(v) for k, v in data.get("params", {}).items()})
