"""Login throttling: too many failed logins for a username, or from a client, within a window.

Counted per server process, in memory: a few workers multiply the allowance by their number,
which still turns an online password search from millions of guesses a day into hundreds.
Behind a reverse proxy the client is the address the proxy reports (uvicorn
``--proxy-headers --forwarded-allow-ips``), otherwise every client looks like the proxy.

A throttled login is refused before its password is checked, so an attacker cannot keep
probing and the server spends no Argon2 time on it. A successful login clears that
username's failures (not the client's).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from server.errors import HandoffError


class TooManyAttempts(HandoffError):
    status_code = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class LoginThrottle:
    """Sliding windows of failure times, keyed ``user:<name>`` and ``client:<address>``."""

    def __init__(
        self,
        per_user: int,
        per_client: int,
        window_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.per_user = per_user
        self.per_client = per_client
        self.window = window_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def check(self, username: str, client: str | None) -> None:
        """Raise TooManyAttempts if this username or this client is locked out for now."""
        now = self.clock()
        with self._lock:
            for key, limit, who in (
                (f"user:{username.casefold()}", self.per_user, "this username"),
                (f"client:{client}", self.per_client, "this address"),
            ):
                if key.startswith("client:") and client is None:
                    continue
                times = self._recent(key, now)
                if len(times) >= limit:
                    wait = max(1, math.ceil(times[len(times) - limit] + self.window - now))
                    raise TooManyAttempts(
                        f"too many failed logins for {who}; try again in {wait} s", wait
                    )

    def failed(self, username: str, client: str | None) -> None:
        now = self.clock()
        with self._lock:
            keys = [f"user:{username.casefold()}"]
            if client is not None:
                keys.append(f"client:{client}")
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)
                self._failures.move_to_end(key)
                times = self._failures[key]
                while len(times) > max(self.per_user, self.per_client):
                    times.popleft()
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username.casefold()}", None)
