"""Online calls to the server's CSSD API for a CSSD station's steps.

CSSD records (receipts, washer cycles, packs, loads, releases, dispatches) are made by the
server's CSSD services, not from offline events: a closing scan at a CSSD station becomes one
``ApiCall`` (see stations.py), sent here with the device token and the signed-in operator's
badge in ``X-Handoff-Badge``. The server then records that person as the actor and the device
as the device.

Each call gets a fresh connection, so "could not connect" reliably means "not sent"; an error
after the request went out means the answer is unknown, which the station reports instead of
retrying (the CSSD API has no idempotency key).
"""

from __future__ import annotations

from typing import Any, Final

import httpx

from scanner_agent.config import AgentConfig
from scanner_agent.stations import ApiCall, CallResult, Outcome

__all__ = ["BADGE_HEADER", "CssdClient"]

BADGE_HEADER: Final = "X-Handoff-Badge"
_NOT_SENT: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)


class CssdClient:
    """Makes a station's API calls, one at a time, synchronously."""

    def __init__(
        self, config: AgentConfig, token: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.client = httpx.Client(
            base_url=f"{config.server_url}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=config.station.server_timeout_seconds,
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def call(self, call: ApiCall) -> CallResult:
        """Make ``call``; never raises for network trouble (the outcome says what happened)."""
        try:
            response = self.client.request(
                call.method, call.path, json=call.body, headers={BADGE_HEADER: call.badge}
            )
        except _NOT_SENT as error:
            return CallResult(Outcome.UNREACHABLE, error=_words(error))
        except httpx.HTTPError as error:
            return CallResult(Outcome.UNKNOWN, error=_words(error))
        answer: Any
        try:
            answer = response.json()
        except ValueError:
            answer = {"detail": response.text[:300]} if response.text else None
        status = response.status_code
        if 200 <= status < 300:
            return CallResult(Outcome.DONE, status, answer)
        if 400 <= status < 500:
            return CallResult(Outcome.REFUSED, status, answer)
        if isinstance(answer, dict) and "error" in answer:  # the server's own error: rolled back
            return CallResult(Outcome.FAILED, status, answer)
        # A gateway's 502/504 (or any answer not from the server): it may have been done.
        return CallResult(Outcome.UNKNOWN, status, answer, f"HTTP {status} from {response.url}")


def _words(error: httpx.HTTPError) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
