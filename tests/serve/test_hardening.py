"""Issue 18 through the server: no request starves the others, every refusal has the error shape."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from openbind.errors import BadInput, RequestTimeout
from openbind.limits import MAX_LABELS, MAX_QUERY_PARTS
from openbind.serve.app import create_app
from openbind.serve.batching import Batcher
from openbind.serve.inputs import InputError, QueryPart
from openbind.serve.service import Service
from openbind.space.model import SpaceModel
from openbind.types import Embeddings, Modality
from tests.serve.conftest import mp4, png, text_to_rgb, wav


@pytest.fixture
def client(library_service: Service) -> TestClient:
    with TestClient(create_app(library_service), raise_server_exceptions=False) as c:
        yield c


def _error(r, status: int, param: str | None) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param
    return error["message"]


@pytest.mark.parametrize("path", ["/v1/embeddings", "/search", "/classify"])
@pytest.mark.parametrize(
    ("body", "why"),
    [
        ('{"model": "toy_colour.test", "input": ' + "[" * 100_000 + "]" * 100_000 + "}", "deep"),
        ('{"model": "toy_colour.test", "input": "red", "k": ' + "9" * 5000 + "}", "digits"),
        ('{"model": "toy_colour.test", "input": "re', "Unterminated string"),
        (b'{"text": "\xff"}', "UTF-8"),
    ],
    ids=["deep-nesting", "5000-digit-number", "truncated", "not-utf8"],
)
def test_malformed_json_bodies_answer_in_the_error_shape(
    client: TestClient, path: str, body: str | bytes, why: str
) -> None:
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    message = _error(r, 400, "body")
    assert "not valid JSON" in message and why in message
    assert r.json()["error"]["code"] == "invalid_json"


def test_bodies_over_a_megabyte_are_read_by_the_worker_with_the_same_answers(
    client: TestClient,
) -> None:
    text = "red " * 300_000  # 1.2 MB: parsed in the heavy worker process
    body = '{"model": "toy_colour.test", "input": "' + text + '"}'
    big = client.post("/v1/embeddings", content=body, headers={"content-type": "application/json"})
    assert big.status_code == 200, big.text
    expected = torch.nn.functional.normalize(text_to_rgb(text), dim=-1)[0]
    assert torch.allclose(torch.tensor(big.json()["data"][0]["embedding"]), expected)
    r = client.post(
        "/v1/embeddings", content=body[:-3], headers={"content-type": "application/json"}
    )
    assert "Unterminated string" in _error(r, 400, "body")
    assert r.json()["error"]["code"] == "invalid_json"
    assert not list(Path("/dev/shm").glob("openbind-*"))  # the bodies went through files there


def test_a_huge_weight_names_the_weights_field(client: TestClient) -> None:
    r = client.post("/search", data={"text": "red", "weights": "1e39"})
    assert "between -1e6 and 1e6" in _error(r, 400, "weights")


def test_labels_per_classify_request_are_capped(client: TestClient) -> None:
    labels = ",".join(f"label {i}" for i in range(MAX_LABELS + 1))
    r = client.post("/classify", data={"text": "red", "labels": labels})
    assert f"at most {MAX_LABELS}" in _error(r, 400, "labels")
    ok = ",".join(f"label {i}" for i in range(MAX_LABELS))
    assert client.post("/classify", data={"text": "red", "labels": ok}).status_code == 200


def test_parts_per_query_are_capped(client: TestClient) -> None:
    files = [("file", (f"{i}.png", png((200, 0, 0)), "image/png")) for i in range(MAX_QUERY_PARTS)]
    r = client.post("/search", data={"text": "red"}, files=files)
    assert f"at most {MAX_QUERY_PARTS}" in _error(r, 400, "file")
    assert client.post("/search", data={"text": "red"}, files=files[1:]).status_code == 200


class _SlowImages:
    """encode_report of the colour space, with images taking `seconds` each (a decoding bomb)."""

    def __init__(self, space: SpaceModel, seconds: float) -> None:
        self.space, self.seconds = space, seconds
        self.threads: dict[Modality, str] = {}

    def __call__(self, modality: Modality, items: list) -> object:
        self.threads[modality] = threading.current_thread().name
        if modality is Modality.IMAGE:
            time.sleep(self.seconds * len(items))
        return self.space.encode_report(modality, items, batch_size=len(items))


def test_a_slow_decode_does_not_delay_a_short_text(space: SpaceModel) -> None:
    encode = _SlowImages(space, seconds=1.5)

    async def main() -> tuple[float, float]:
        batcher = Batcher(encode, max_wait_ms=1)
        start = time.perf_counter()
        slow = asyncio.create_task(batcher.submit(Modality.IMAGE, [png((255, 0, 0))]))
        await asyncio.sleep(0.05)  # the image is being "decoded"
        text = await batcher.submit(Modality.TEXT, ["red"])
        text_done = time.perf_counter() - start
        image = await slow
        await batcher.close()
        assert text.vectors.shape == (1, 3) and image.vectors.shape == (1, 3)
        return text_done, time.perf_counter() - start

    text_done, image_done = asyncio.run(main())
    assert text_done < 1.0 < 1.5 <= image_done  # the text did not wait behind the image
    assert encode.threads[Modality.TEXT].startswith("openbind-model")
    assert encode.threads[Modality.IMAGE].startswith("openbind-heavy")


def test_long_texts_take_the_heavy_lane(space: SpaceModel) -> None:
    batcher = Batcher(lambda m, items: None, light_chars=10)  # type: ignore[arg-type,return-value]
    assert not batcher._is_heavy(["red", "blue", torch.zeros(3)])
    assert batcher._is_heavy(["a" * 11])
    assert batcher._is_heavy([b"\x89PNG"])


def test_a_request_over_its_time_budget_gets_a_typed_timeout_and_the_server_goes_on(
    space: SpaceModel,
) -> None:
    encode = _SlowImages(space, seconds=1.0)

    async def main() -> None:
        batcher = Batcher(encode, max_wait_ms=1, timeout_s=0.3, jobs={"sleep": time.sleep})
        with pytest.raises(RequestTimeout, match=r"time budget of 0\.3 s"):
            await batcher.submit(Modality.IMAGE, [png((0, 255, 0))])
        assert (await batcher.submit(Modality.TEXT, ["green"])).vectors.shape == (1, 3)
        with pytest.raises(RequestTimeout, match="embedding the labels took longer"):
            await batcher.run("sleep", 1.0, what="embedding the labels")
        assert batcher.stats.timeouts == 2
        await batcher.close()

    asyncio.run(main())


def test_a_timeout_answers_503_in_the_error_shape(space: SpaceModel) -> None:
    service = Service(space, timeout_s=0.3)
    service._batcher.encode = _SlowImages(space, seconds=1.0)
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        r = c.post("/classify", files={"file": ("a.png", png((0, 0, 255)), "image/png")})
        assert r.headers["retry-after"] == "5"
        assert "time budget" in _error(r, 503, None)


def test_heavy_work_in_a_worker_process_gives_the_same_answers(space: SpaceModel) -> None:
    inputs = {
        Modality.IMAGE: [png((200, 30, 0)), png((0, 0, 250))],
        Modality.VIDEO: [mp4((0, 220, 0))],
        Modality.AUDIO: [wav(300.0), wav(3000.0)],
        Modality.TEXT: ["red and " + "blue " * 30],  # long: the heavy lane
    }
    part = QueryPart(Modality.IMAGE, png((10, 200, 10)), "file")

    async def answers(service: Service) -> list[torch.Tensor]:
        service.start()
        out = [(await service.embed(m, items)).vectors for m, items in inputs.items()]
        labels = await service.classify(part, ["red", "green", "blue"])
        out.append(torch.tensor([[x.probability, x.score] for x in labels]))
        await service.aclose()
        return out

    def serve(processes: bool) -> list[torch.Tensor]:
        service = Service(space, processes=processes)
        service._batcher.light_chars = 20
        return asyncio.run(answers(service))

    for forked, threaded in zip(serve(True), serve(False), strict=True):
        assert torch.equal(forked, threaded)


def _who() -> tuple[int, int, int]:
    return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0), torch.get_num_threads()


def _refuse() -> None:
    raise InputError("file", "cannot be read")  # comes back as it is (type and field)


def test_the_heavy_worker_is_a_low_priority_process_that_is_replaced_when_it_dies(
    space: SpaceModel,
) -> None:
    jobs = {"who": _who, "die": lambda: os._exit(3), "refuse": _refuse}

    async def main() -> None:
        batcher = Batcher(lambda m, items: None, processes=True, jobs=jobs)  # type: ignore[arg-type,return-value]
        batcher.start()
        pid, nice, threads = await batcher.run("who")
        assert pid != os.getpid() and nice == 19 and threads == 1
        with pytest.raises(InputError, match="file: cannot be read") as refused:
            await batcher.run("refuse")
        assert refused.value.field == "file"
        with pytest.raises(BadInput, match="worker process stopped"):
            await batcher.run("die")
        second, _, _ = await batcher.run("who")  # a new worker took its place
        assert second not in (pid, os.getpid())
        os.kill(second, signal.SIGTERM)  # ends it (the server's handlers are not inherited)
        await asyncio.sleep(0.5)
        third, _, _ = await batcher.run("who")  # the next job gets a new worker, no error
        assert third not in (pid, second, os.getpid())
        await batcher.close()

    asyncio.run(main())


def test_short_texts_are_embedded_by_model_worker_processes_at_normal_priority() -> None:
    async def main() -> None:
        batcher = Batcher(
            lambda m, items: None,  # type: ignore[arg-type,return-value]
            processes=True,
            light_workers=2,
            light_threads=1,
            jobs={"who": _who},
        )
        batcher.start()
        seen = {await batcher._on_pool(False, "who", ()) for _ in range(6)}
        assert all(pid != os.getpid() and nice == 0 and threads == 1 for pid, nice, threads in seen)
        heavy_pid, heavy_nice, _ = await batcher.run("who")
        assert heavy_nice == 19 and heavy_pid not in {pid for pid, _, _ in seen}
        await batcher.close()

    asyncio.run(main())


def _read_where(service: Service, raw: bytes) -> tuple[int, list[QueryPart]]:
    """A request reader that says which process read the body (and embeds its words)."""
    words = raw.decode().split()
    return os.getpid(), [QueryPart(Modality.TEXT, w, f"input[{i}]") for i, w in enumerate(words)]


def test_large_bodies_are_read_and_embedded_whole_by_the_worker(space: SpaceModel) -> None:
    big = ("r" * 100_000 + " ") * 11 + "red blue"  # over BIG_JSON (1 MiB)
    small = b"red blue"

    async def main() -> None:
        service = Service(space)
        service.start()
        here, parts = await service.read_request(small, _read_where)
        assert here == os.getpid() and [p.item for p in parts] == ["red", "blue"]
        there, embedded = await service.read_request(big.encode(), _read_where)
        assert there != os.getpid() and len(embedded) == 13
        assert all(isinstance(p.item, Embeddings) for p in embedded)
        rows = (await service.embed_parts(embedded[-2:])).vectors
        assert torch.allclose(rows, space.encode("text", ["red", "blue"]).vectors, atol=1e-6)
        await service.aclose()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (
            {"input": [base64.b64encode(png((9, 9, 9))).decode(), "%%%"], "modality": "image"},
            400,
            "input[1]",
        ),
        ({"input": ["red"], "modality": "smell"}, 400, "modality"),
        ({"input": 5}, 422, "input"),
        ({"input": ["red"], "dimensions": 7}, 400, "dimensions"),
    ],
    ids=["bad-base64", "unknown-modality", "not-a-string", "wrong-dimensions"],
)
def test_a_large_body_gets_the_same_errors_as_a_small_one(
    client: TestClient, body: dict, status: int, param: str
) -> None:
    for pad in ("", " " * (1 << 20)):  # JSON allows spaces: the same body, over BIG_JSON
        raw = json.dumps({"model": "toy_colour.test", **body}) + pad
        r = client.post("/v1/embeddings", content=raw, headers={"content-type": "application/json"})
        _error(r, status, param)


def test_large_search_and_classify_bodies_give_the_same_answers(client: TestClient) -> None:
    blue = "data:image/png;base64," + base64.b64encode(png((0, 0, 240))).decode()
    search = {"text": "blue", "media": blue, "weights": [1, 1], "k": 2}
    classify = {"media": blue, "labels": ["red", "green", "blue"]}
    for path, body in (("/search", search), ("/classify", classify)):
        answers = []
        for pad in ("", " " * (1 << 20)):
            raw = json.dumps(body) + pad
            r = client.post(path, content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text
            answers.append(r.json())
        assert answers[0] == answers[1]
