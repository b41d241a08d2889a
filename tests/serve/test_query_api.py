"""The query API: JSON bodies, GET /search, vectors, filters, offsets, data: URIs, error shapes,
offline docs and live library updates."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from openbind.index import Library, Record
from openbind.serve.app import create_app
from openbind.serve.service import Service
from openbind.types import Modality
from tests.serve.conftest import png, wav


@pytest.fixture
def client(library_service: Service) -> TestClient:
    with TestClient(create_app(library_service), raise_server_exceptions=False) as c:
        yield c


def names(body: dict) -> list[str]:
    return [Path(h["path"]).name for h in body["hits"]]


def data_uri(raw: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


def test_json_search_equals_the_form_search(client: TestClient) -> None:
    form = client.post("/search", data={"text": "red", "k": "3"}).json()
    body = client.post("/search", json={"text": "red", "k": 3}).json()
    assert names(body) == names(form) and names(body)[0] == "red.png"
    assert client.get("/search", params={"q": "red", "k": 3}).json()["hits"] == body["hits"]


def test_json_media_vector_weights_offset_and_filters(client: TestClient) -> None:
    green = data_uri(png((0, 255, 0)), "image/png")
    mixed = client.post("/search", json={"text": "red", "media": green, "k": 1}).json()
    assert names(mixed) == ["yellow.png"]  # red + green
    tilted = {"text": "red", "media": [green], "weights": [0.1, 1], "k": 1}
    assert names(client.post("/search", json=tilted).json()) == ["green.png"]
    blue = client.post("/search", json={"vector": [0.0, 0.0, 5.0], "k": 2}).json()
    assert names(blue) == ["sky.txt", "blue.png"]
    page2 = client.post("/search", json={"vector": [0, 0, 1], "k": 2, "offset": 2}).json()
    full = client.post("/search", json={"vector": [0, 0, 1], "k": 4}).json()
    assert page2["hits"] == full["hits"][2:4] and page2["total"] == 6
    only_notes = {"text": "green", "filter": {"path_glob": "notes/*"}, "k": 5}
    assert names(client.post("/search", json=only_notes).json()) == ["grass.txt", "sky.txt"]
    r = client.get("/search", params=[("q", "red"), ("filter", "modality=text"), ("k", "5")])
    assert r.json()["total"] == 2 and {h["modality"] for h in r.json()["hits"]} == {"text"}


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"q": "red", "filter": {"colour": "red"}}, 400, "filter.colour"),
        ({"q": "red", "filter": ["size=3"]}, 400, "filter.size"),
        ({"vector": [1, 2]}, 400, "vector"),
        ({"vector": [1, "NaN", 2]}, 400, "vector"),
        ({"vector": [0, 0, 0]}, 400, "vector"),
        ({"q": "red", "offset": 6}, 400, "offset"),
        ({"q": "red", "offset": -1}, 400, "offset"),
        ({"q": "red", "weights": [1, 2]}, 400, "weights"),
        ({"q": "red", "colour": "red"}, 422, "colour"),
        ({"media": "data:image/png;base64,@@"}, 400, "media"),
        ({"media": data_uri(png((1, 1, 1)), "image/png"), "media_modality": "audio"}, 400, "media"),
        ({}, 400, "text"),
    ],
)
def test_bad_json_searches_are_400s_naming_the_field(
    client: TestClient, body: dict, status: int, param: str
) -> None:
    r = client.post("/search", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param


def test_every_route_error_has_the_documented_shape(client: TestClient) -> None:
    cases = [
        (client.get("/nowhere"), 404, "not_found"),
        (client.delete("/search"), 405, "method"),
        (client.put("/v1/embeddings"), 405, "method"),
        (
            client.post(
                "/search", content=b"{not json", headers={"content-type": "application/json"}
            ),
            400,
            "invalid_json",
        ),
        (
            client.post("/search", content=b"q", headers={"content-type": "text/plain"}),
            400,
            "invalid_value",
        ),
        (client.get("/media/12345"), 404, "not_found"),
    ]
    for r, status, code in cases:
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["code"] == code
    assert client.delete("/search").headers["allow"]


def test_data_uris_imply_their_modality(client: TestClient, library_service: Service) -> None:
    raw = png((0, 0, 255))
    image = client.post(
        "/v1/embeddings", json={"model": "toy_colour.test", "input": data_uri(raw, "image/png")}
    )
    assert image.status_code == 200, image.text
    expected = library_service.space.encode("image", raw).numpy()[0]
    np.testing.assert_allclose(image.json()["data"][0]["embedding"], expected, rtol=1e-5)
    clash = client.post(
        "/v1/embeddings",
        json={"model": "toy_colour.test", "modality": "audio", "input": data_uri(raw, "image/png")},
    )
    assert clash.status_code == 400 and clash.json()["error"]["param"] == "input[0]"
    assert "data:image/png" in clash.json()["error"]["message"]
    mixed = client.post(
        "/v1/embeddings",
        json={"model": "toy_colour.test", "input": ["red", data_uri(wav(200), "audio/wav")]},
    )
    assert mixed.status_code == 400 and mixed.json()["error"]["param"] == "input[1]"
    labels = client.post(
        "/classify", json={"media": data_uri(raw, "image/png"), "labels": ["red", "blue"]}
    )
    assert labels.json()["modality"] == "image" and labels.json()["labels"][0]["label"] == "blue"


def test_docs_work_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    for url in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert client.get(url).status_code == 200
    assert "cdn" not in client.get("/redoc").text.lower()
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/search"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)


def test_a_running_server_serves_each_new_commit(
    client: TestClient, library: Library, media_dir: Path
) -> None:
    writer = Library.open(library.path)
    before = client.post("/search", json={"q": "red", "k": 1}).json()
    assert names(before) == ["red.png"] and before["generation"] == 2
    red = next(h["id"] for h in before["hits"])
    writer.remove([red])
    (media_dir / "crimson.png").write_bytes(png((250, 0, 0)))
    writer.add(
        np.array([[1.0, 0.0, 0.0]], np.float32),
        [Record(str(media_dir / "crimson.png"), Modality.IMAGE)],
    )
    writer.commit()
    after = client.post("/search", json={"q": "red", "k": 6}).json()
    assert after["generation"] == 3 and names(after)[0] == "crimson.png"
    assert "red.png" not in names(after)  # nothing removed is returned after the commit
    assert client.get(f"/media/{red}").status_code == 404
    assert client.get("/health").json()["generation"] == 3
