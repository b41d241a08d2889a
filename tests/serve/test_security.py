"""API key, rate limit and upload size limit of the HTTP server."""

from __future__ import annotations

import asyncio
import base64

import pytest
from fastapi.testclient import TestClient

from openbind.serve.app import ServeSettings, create_app
from openbind.serve.security import RateLimit
from openbind.serve.service import Service
from tests.serve.conftest import png

KEY = "s3cret-key"
UNAUTHORIZED = {
    "error": {
        "message": "unauthorized",
        "type": "authentication_error",
        "param": None,
        "code": "unauthorized",
    }
}


@pytest.fixture
def guarded(service: Service) -> TestClient:
    with TestClient(create_app(service, ServeSettings(api_key=KEY))) as c:
        yield c


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": "s3cret-ke"},
        {"Authorization": f"Token {KEY}"},
        {"Authorization": "Basic !!"},
    ],
)
@pytest.mark.parametrize("path", ["/models", "/", "/openapi.json", "/media/1", "/static/app.js"])
def test_missing_or_wrong_key_is_401_and_reveals_nothing(
    guarded: TestClient, headers: dict, path: str
) -> None:
    r = guarded.get(path, headers=headers)
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    assert r.headers["www-authenticate"] == 'Basic realm="openbind"'


def test_post_without_key_is_refused_before_any_work(guarded: TestClient, service: Service) -> None:
    r = guarded.post("/v1/embeddings", json={"model": "toy_colour.test", "input": "red"})
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    assert service.space.tower("text").calls == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY}"},
        {"X-API-Key": KEY},
        {"Authorization": "Basic " + base64.b64encode(f"anyone:{KEY}".encode()).decode()},
    ],
)
def test_right_key_in_any_accepted_header(guarded: TestClient, headers: dict) -> None:
    r = guarded.post(
        "/v1/embeddings", json={"model": "toy_colour.test", "input": "red"}, headers=headers
    )
    assert r.status_code == 200
    assert len(r.json()["data"][0]["embedding"]) == 3


def test_health_needs_no_key(guarded: TestClient) -> None:
    r = guarded.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_upload_over_the_limit_is_413(service: Service) -> None:
    settings = ServeSettings(max_upload_bytes=4000)
    with TestClient(create_app(service, settings)) as c:
        small = c.post(
            "/classify",
            files={"file": ("a.png", png((255, 0, 0)), "image/png")},
            data={"labels": "red,blue"},
        )
        assert small.status_code == 200
        big = c.post(
            "/classify",
            files={"file": ("a.png", png((255, 0, 0), size=64) + b"\0" * 8000, "image/png")},
            data={"labels": "red,blue"},
        )
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "too_large"
        assert "limit" in big.json()["error"]["message"]
        assert service.space.tower("image").calls == [1]  # the big one never reached the model

        def chunks():  # no Content-Length: the limit still holds
            for _ in range(10):
                yield b"x" * 1000

        streamed = c.post(
            "/v1/embeddings", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert c.get("/health").status_code == 200


def test_rate_limit_per_client_gives_429_with_retry_after(service: Service) -> None:
    settings = ServeSettings(rate_limit=6, rate_burst=3)  # a token every 10 s
    with TestClient(create_app(service, settings)) as c:
        codes = [c.get("/models").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        r = c.get("/models")
        assert r.status_code == 429
        assert r.json()["error"]["type"] == "rate_limit_error"
        assert 1 <= int(r.headers["retry-after"]) <= 10
        assert c.get("/health").status_code == 200  # health is never limited


def test_rate_limit_refills_over_time_and_separates_clients() -> None:
    now = [0.0]
    seen: list[str] = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["client"][0])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limiter = RateLimit(app, per_minute=120, burst=2, clock=lambda: now[0])

    async def call(client: str) -> int:
        statuses: list[int] = []

        async def send(message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {"type": "http", "path": "/search", "client": (client, 1234), "headers": []}
        await limiter(scope, lambda: None, send)
        return statuses[0]

    async def main() -> list[int]:
        out = [await call("10.0.0.1") for _ in range(3)]  # burst 2, then limited
        out.append(await call("10.0.0.2"))  # another client has its own bucket
        now[0] = 0.5  # 2 per second: one token back
        out.append(await call("10.0.0.1"))
        out.append(await call("10.0.0.1"))
        return out

    assert asyncio.run(main()) == [204, 204, 429, 204, 204, 429]
    assert seen == ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.1"]
