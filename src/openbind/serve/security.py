"""Request guards as plain ASGI middleware: API key, per-client rate limit, upload size limit.

They answer before the application runs, with the same JSON error body as the API
(`{"error": {"message", "type", "param", "code"}}`), and never say why a key was refused.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health"})
"""Paths that need no API key and are not rate limited."""


def error_body(
    message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> dict:
    """The JSON error body every openbind endpoint uses (OpenAI's shape)."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


async def send_json(
    send: Send, status: int, body: dict, headers: dict[str, str] | None = None
) -> None:
    """Send a complete JSON response from ASGI middleware."""
    raw = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": raw})


class ApiKeyGuard:
    """Refuse every request but `OPEN_PATHS` that lacks the key, with a 401 that reveals nothing.

    The key is accepted as `Authorization: Bearer KEY` (OpenAI clients), `X-API-Key: KEY`, or
    as the password of HTTP Basic auth (any user name), so a browser can open the web page.
    """

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        body = error_body("unauthorized", "authentication_error", code="unauthorized")
        await send_json(send, 401, body, {"WWW-Authenticate": 'Basic realm="openbind"'})

    def _allowed(self, scope: Scope) -> bool:
        given = [_presented_key(name, value) for name, value in scope.get("headers", [])]
        return any(k is not None and hmac.compare_digest(k, self._key) for k in given)


def _presented_key(name: bytes, value: bytes) -> bytes | None:
    if name == b"x-api-key":
        return value.strip()
    if name != b"authorization":
        return None
    scheme, _, credential = value.strip().partition(b" ")
    if scheme.lower() == b"bearer":
        return credential.strip()
    if scheme.lower() == b"basic":
        try:
            decoded = base64.b64decode(credential.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(b":")[2]
    return None


class RateLimit:
    """A token bucket per client address: `per_minute` requests on average, bursts of `burst`.

    Over the limit a request gets 429 with a `Retry-After` header (seconds).
    """

    def __init__(
        self,
        app: ASGIApp,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be > 0 and burst >= 1")
        self.app = app
        self.rate = per_minute / 60.0  # tokens per second
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last time)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        wait = self._take(_client(scope))
        if wait > 0:
            body = error_body(
                "too many requests; slow down", "rate_limit_error", code="rate_limited"
            )
            await send_json(send, 429, body, {"Retry-After": str(math.ceil(wait))})
            return
        await self.app(scope, receive, send)

    def _take(self, client: str) -> float:
        """Take a token for `client`; 0 if it had one, else the seconds until it will."""
        now = self.clock()
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if len(self._buckets) > 10_000:  # forget clients that are full again
            self._buckets = {
                c: (t, s) for c, (t, s) in self._buckets.items() if now - s < self.burst / self.rate
            }
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, before the application parses them.

    The body is read here (up to the limit) and replayed to the application, so a client that
    sends no Content-Length, or a false one, is caught as well.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, send: Send) -> None:
        limit = f"{self.max_bytes / 2**20:.1f} MiB"
        body = error_body(
            f"request body is larger than the limit of {limit}",
            "invalid_request_error",
            code="too_large",
        )
        await send_json(send, 413, body, {"Connection": "close"})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
