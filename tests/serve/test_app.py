"""The HTTP API on the colour space: OpenAI embeddings, classify, models, health, errors."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from openbind.serve.app import create_app
from openbind.serve.service import Service
from tests.serve.conftest import mp4, png, wav


@pytest.fixture
def client(service: Service) -> TestClient:
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def test_embeddings_text_openai_shape(client: TestClient) -> None:
    r = client.post("/v1/embeddings", json={"model": "toy_colour.test", "input": ["red", "blue"]})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    assert body["model"] == "toy_colour.test"
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    assert [d["object"] for d in body["data"]] == ["embedding", "embedding"]
    assert [d["index"] for d in body["data"]] == [0, 1]
    np.testing.assert_allclose(body["data"][0]["embedding"], _unit([1.05, 0.05, 0.05]), rtol=1e-6)
    np.testing.assert_allclose(body["data"][1]["embedding"], _unit([0.05, 0.05, 1.05]), rtol=1e-6)


def test_embeddings_single_string_and_base64_encoding(client: TestClient) -> None:
    r = client.post(
        "/v1/embeddings",
        json={"model": "toy_colour.test", "input": "green", "encoding_format": "base64"},
    )
    assert r.status_code == 200
    data = r.json()["data"]
    assert len(data) == 1
    vec = np.frombuffer(base64.b64decode(data[0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vec, _unit([0.05, 1.05, 0.05]), rtol=1e-6)


def test_embeddings_image_as_data_uri_and_plain_base64(client: TestClient) -> None:
    raw = png((0, 0, 255))
    uri = "data:image/png;base64," + base64.b64encode(raw).decode()
    plain = base64.b64encode(raw).decode()
    r = client.post(
        "/v1/embeddings",
        json={"model": "toy_colour.test", "modality": "image", "input": [uri, plain]},
    )
    assert r.status_code == 200
    a, b = (d["embedding"] for d in r.json()["data"])
    np.testing.assert_allclose(a, _unit([0.01, 0.01, 1.01]), rtol=1e-5)
    np.testing.assert_allclose(a, b)


def test_embeddings_audio_and_video(client: TestClient) -> None:
    hum = "data:audio/wav;base64," + base64.b64encode(wav(220)).decode()
    whistle = base64.b64encode(wav(5000)).decode()
    r = client.post(
        "/v1/embeddings",
        json={"model": "toy_colour.test", "modality": "audio", "input": [hum, whistle]},
    )
    assert r.status_code == 200
    a, b = (d["embedding"] for d in r.json()["data"])
    np.testing.assert_allclose(a, _unit([1.05, 0.05, 0.05]), rtol=1e-5)
    np.testing.assert_allclose(b, _unit([0.05, 0.05, 1.05]), rtol=1e-5)
    clip = base64.b64encode(mp4((0, 255, 0))).decode()
    r = client.post(
        "/v1/embeddings", json={"model": "starter_toy", "modality": "video", "input": clip}
    )
    assert r.status_code == 404  # not this server's model
    r = client.post(
        "/v1/embeddings", json={"model": "toy_colour.test", "modality": "video", "input": clip}
    )
    assert int(np.argmax(r.json()["data"][0]["embedding"])) == 1


def test_embeddings_undecodable_image_names_the_input(client: TestClient) -> None:
    good = base64.b64encode(png((9, 9, 9))).decode()
    bad = base64.b64encode(b"this is not a picture").decode()
    r = client.post(
        "/v1/embeddings",
        json={"model": "toy_colour.test", "modality": "image", "input": [good, bad]},
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "input[1]"
    assert err["type"] == "invalid_request_error"
    assert "not an image" in err["message"]
    assert client.get("/health").status_code == 200  # still up


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "toy_colour.test"}, 422, "input"),
        ({"model": "toy_colour.test", "input": [1, 2]}, 422, "input"),
        ({"input": "red"}, 422, "model"),
        (
            {"model": "toy_colour.test", "input": "red", "encoding_format": "hex"},
            422,
            "encoding_format",
        ),
        ({"model": "toy_colour.test", "input": []}, 400, "input"),
        ({"model": "toy_colour.test", "input": ["red", "  "]}, 400, "input[1]"),
        ({"model": "toy_colour.test", "input": "red", "modality": "smell"}, 400, "modality"),
        ({"model": "toy_colour.test", "input": "AAAA", "modality": "depth"}, 400, "modality"),
        ({"model": "toy_colour.test", "input": "AAAA", "modality": "audio"}, 400, "input[0]"),
        ({"model": "toy_colour.test", "input": "%%%", "modality": "image"}, 400, "input[0]"),
        ({"model": "toy_colour.test", "input": "red", "dimensions": 2}, 400, "dimensions"),
        ({"model": "imagebind_huge", "input": "red"}, 404, "model"),
    ],
)
def test_embeddings_bad_requests_name_the_field(
    client: TestClient, body: dict, status: int, param: str
) -> None:
    r = client.post("/v1/embeddings", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert param.split("[")[0] in r.json()["error"]["message"] or status == 404


def test_classify_upload_against_user_labels(client: TestClient) -> None:
    r = client.post(
        "/classify",
        files={"file": ("swatch.png", png((0, 200, 0)), "image/png")},
        data={"labels": "red, green, blue"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["modality"] == "image"
    labels = body["labels"]
    assert next(x["label"] for x in labels) == "green"
    assert sum(x["probability"] for x in labels) == pytest.approx(1.0, abs=1e-5)
    assert labels[0]["probability"] > 0.9  # logit scale 10 on cosines ~0.99 vs ~0.06


def test_classify_named_label_set_and_text(client: TestClient) -> None:
    r = client.post("/classify", data={"text": "a blue whale", "label_set": "colours"})
    assert r.status_code == 200
    assert next(x["label"] for x in r.json()["labels"]) == "blue"
    assert {x["label"] for x in r.json()["labels"]} == {"red", "green", "blue"}


@pytest.mark.parametrize(
    ("data", "files", "param"),
    [
        ({"labels": "red, green"}, None, "file"),
        ({"text": "red", "labels": "red"}, None, "labels"),
        ({"text": "red", "label_set": "animals"}, None, "label_set"),
        (
            {"labels": "red, green"},
            {"file": ("x.bin", b"\x00\x01", "application/octet-stream")},
            "file",
        ),
        ({"labels": "red, green"}, {"file": ("x.png", b"garbage", "image/png")}, "file"),
        (
            {"labels": "red, green", "modality": "sound"},
            {"file": ("x.png", png((1, 2, 3)), "image/png")},
            "modality",
        ),
    ],
)
def test_classify_bad_requests(
    client: TestClient, data: dict, files: dict | None, param: str
) -> None:
    r = client.post("/classify", data=data, files=files)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_models_health_and_openapi(client: TestClient) -> None:
    models = client.get("/models").json()
    assert models == {
        "object": "list",
        "data": [
            {
                "id": "toy_colour.test",
                "object": "model",
                "owned_by": "openbind",
                "dim": 3,
                "modalities": ["text", "image", "audio", "video"],
            }
        ],
    }
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["model"] == "toy_colour.test"
    assert health["library"] is None and health["items"] == 0
    schema = client.get("/openapi.json").json()
    assert {
        "/v1/embeddings",
        "/search",
        "/classify",
        "/models",
        "/health",
        "/media/{item_id}",
    } <= set(schema["paths"])


def test_search_without_index_is_a_clear_400(client: TestClient) -> None:
    r = client.post("/search", data={"text": "red"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "index"


def test_web_page_is_served(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "openbind" in r.text
    assert client.get("/static/app.js").status_code == 200


def test_internal_error_is_a_500_that_reveals_nothing_and_the_server_stays_up(
    service: Service,
) -> None:
    tower = service.space.tower("image")
    original = tower.forward

    def broken(x):
        raise RuntimeError("secret internal detail")

    tower.forward = broken
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        uri = base64.b64encode(png((1, 2, 3))).decode()
        r = c.post(
            "/v1/embeddings", json={"model": "toy_colour.test", "modality": "image", "input": uri}
        )
        assert r.status_code == 500
        assert r.json() == {
            "error": {
                "message": "internal server error",
                "type": "server_error",
                "param": None,
                "code": "internal",
            }
        }
        tower.forward = original
        r = c.post(
            "/v1/embeddings", json={"model": "toy_colour.test", "modality": "image", "input": uri}
        )
        assert r.status_code == 200
        assert (
            c.post("/v1/embeddings", json={"model": "toy_colour.test", "input": "red"}).status_code
            == 200
        )
