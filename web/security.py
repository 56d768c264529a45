"""Security headers on every response; a Content Security Policy on every HTML page.

Pages load only what this server serves (htmx, Leaflet and Swagger UI are vendored under
``/static/vendor``), so scripts come from ``'self'`` alone: no inline scripts, no ``eval``.
Styles allow ``'unsafe-inline'`` for the ``style=`` attributes of the templates and the
indicator style htmx adds; map tiles come from ``HANDOFF_MAP_TILE_URL``'s origin when one is
set. A page that needs an inline script of its own (Swagger UI's start-up) sets its own policy
with that script's hash, and this middleware leaves it alone.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.config import get_web_settings

ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def content_security_policy(tile_url: str | None, script_hashes: tuple[str, ...] = ()) -> str:
    images = ["'self'", "data:", "blob:"]
    if tile_url:
        parts = urlsplit(tile_url)
        if parts.scheme in {"http", "https"} and parts.netloc:
            images.append(f"{parts.scheme}://{parts.netloc}")
    scripts = ["'self'", *(f"'sha256-{digest}'" for digest in script_hashes)]
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {' '.join(scripts)}",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def inline_script_hashes(html: str) -> tuple[str, ...]:
    """The CSP hashes of a fixed page's inline scripts (never of a page with user data)."""
    return tuple(
        base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        for body in _INLINE_SCRIPT.findall(html)
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    @lru_cache(maxsize=4)
    def _policy(tile_url: str) -> bytes:
        return content_security_policy(tile_url or None).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in ALWAYS if name not in present]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html") and (
                    b"content-security-policy" not in present
                ):
                    policy = self._policy(get_web_settings().map_tile_url)
                    headers.append((b"content-security-policy", policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
