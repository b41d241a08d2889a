"""`POST /search` and `GET /media/{id}` over a small indexed library."""

from __future__ import annotations

import os
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


def _names(hits: list[dict]) -> list[str]:
    return [Path(h["path"]).name for h in hits]


def test_text_query_finds_the_red_swatch_first(client: TestClient, media_dir: Path) -> None:
    r = client.post("/search", data={"text": "red", "k": "3"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "toy_colour.test"
    hits = body["hits"]
    assert len(hits) == 3
    top = hits[0]
    assert top["path"] == "media/red.png"  # relative to its indexed folder, never absolute
    assert top["modality"] == "image"
    assert body["media_url"] == "/media/{id}"
    assert (body["total"], body["offset"], body["k"], body["generation"]) == (6, 0, 3, 2)
    assert top["score"] == pytest.approx(
        float(
            np.dot([1.05, 0.05, 0.05], [0.912, 0.05, 0.05])
            / np.linalg.norm([1.05, 0.05, 0.05])
            / np.linalg.norm([0.912, 0.05, 0.05])
        ),
        abs=1e-3,
    )
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_uploaded_image_query_and_modality_filter(client: TestClient) -> None:
    query = {"file": ("q.png", png((10, 10, 230)), "image/png")}  # the blue swatch itself
    r = client.post("/search", files=query, data={"k": "2"})
    assert _names(r.json()["hits"]) == ["blue.png", "sky.txt"]
    r = client.post("/search", files=query, data={"k": "5", "modality": "text"})
    assert _names(r.json()["hits"]) == ["sky.txt", "grass.txt"]
    assert {h["modality"] for h in r.json()["hits"]} == {"text"}


def test_text_plus_image_with_weights_composes(client: TestClient) -> None:
    green = {"file": ("g.png", png((0, 255, 0)), "image/png")}
    both = client.post("/search", files=green, data={"text": "red", "weights": "1,1", "k": "1"})
    assert _names(both.json()["hits"]) == ["yellow.png"]  # red + green
    mostly_green = client.post(
        "/search", files=green, data={"text": "red", "weights": "0.1,1", "k": "1"}
    )
    assert _names(mostly_green.json()["hits"]) == ["green.png"]


def test_search_merges_its_query_parts_into_batches(library_service: Service) -> None:
    service = Service(library_service.space, library_service.library, processes=False)
    with TestClient(create_app(service)) as client:  # towers record calls in this process
        r = client.post("/search", data={"text": "blue"})
        assert r.status_code == 200
        assert service.space.tower("text").calls == [1]
        assert client.get("/health").json()["items"] == 6


@pytest.mark.parametrize(
    ("data", "files", "status", "param"),
    [
        ({}, None, 400, "text"),
        ({"text": "red", "k": "0"}, None, 400, "k"),
        ({"text": "red", "k": "many"}, None, 422, "k"),
        ({"text": "red", "weights": "1,2"}, None, 400, "weights"),
        ({"text": "red", "weights": "x"}, None, 400, "weights"),
        ({"text": "red", "weights": "0"}, None, 400, "weights"),
        ({"text": "red", "modality": "smell"}, None, 400, "modality"),
        ({}, {"file": ("q.png", b"\x89PNG broken", "image/png")}, 400, "file"),
        ({}, {"file": ("q.dat", b"1234", "application/octet-stream")}, 400, "file"),
    ],
)
def test_bad_search_requests_name_the_field(
    client: TestClient, data: dict, files: dict | None, status: int, param: str
) -> None:
    r = client.post("/search", data=data, files=files)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param


def test_media_serves_indexed_files(client: TestClient, media_dir: Path) -> None:
    hit = client.post("/search", data={"text": "green", "k": "1", "modality": "image"}).json()[
        "hits"
    ][0]
    r = client.get(f"/media/{hit['id']}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.content == (media_dir / "green.png").read_bytes()


@pytest.mark.parametrize(
    "url",
    [
        "/media/999",
        "/media/-1",
        "/media/..%2F..%2Fetc%2Fpasswd",
        "/media/%2e%2e%2fsecret.txt",
        "/media/1%2F..%2F..%2Fsecret.txt",
    ],
)
def test_media_unknown_ids_and_traversal_are_refused(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code in (404, 422)
    assert "secret" not in r.text and "root:" not in r.text


def test_media_never_serves_files_outside_the_indexed_roots(
    tmp_path: Path, space, library: Library, media_dir: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, media_dir / "notes" / "link.txt")  # a link inside the root to a file outside
    ids = library.add(
        np.eye(3, dtype=np.float32)[:3],
        [
            Record(str(secret), Modality.TEXT),
            Record(str(media_dir / "notes" / "link.txt"), Modality.TEXT),
            Record(str(media_dir / ".." / "secret.txt"), Modality.IMAGE),
        ],
    )
    library.commit()
    with TestClient(create_app(Service(space, library))) as c:
        for item_id in ids.tolist():
            r = c.get(f"/media/{item_id}")
            assert r.status_code == 404
            assert r.json()["error"] == {
                "message": "not found",
                "type": "not_found_error",
                "param": None,
                "code": "not_found",
            }
            assert "secret" not in r.text
        good = library.search(np.array([0.9, 0.05, 0.05]), 1)[0]
        assert c.get(f"/media/{good.id}").status_code == 200


def test_upload_of_a_modality_the_space_lacks_names_the_file(space, library: Library) -> None:
    space.towers.pop("audio")  # a text + image + video space
    with TestClient(create_app(Service(space, library))) as c:
        upload = {"file": ("hum.wav", wav(220), "audio/wav")}
        for path, data in (("/search", {}), ("/classify", {"labels": "red,blue"})):
            r = c.post(path, files=upload, data=data)
            assert r.status_code == 400
            err = r.json()["error"]
            assert err["param"] == "file"
            assert (
                err["message"]
                == "file: is audio, which toy_colour.test cannot embed; it embeds: text, image, video"
            )
