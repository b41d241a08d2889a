"""cards: the typed model card, its weight sources (URL files, a Hugging Face repository at a pinned
commit, a local folder, packaged), the builtin cards' data, and the import contract of builders."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import tomllib
from pathlib import Path

import pytest

from openbind import cards, hub, registry
from openbind.cards import (
    HfRepo,
    LocalFolder,
    ModelCard,
    Packaged,
    Parts,
    Preprocess,
    UrlFiles,
    WeightFile,
)
from openbind.errors import ConfigError, MissingWeights

ROOT = Path(__file__).resolve().parents[1]
REV = "0123456789abcdef0123456789abcdef01234567"
FILES = {"config.json": b'{"hidden_size": 4}', "model.safetensors": b"x" * 1000}


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENBIND_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path / "home"


def _card(weights, **kw) -> ModelCard:
    return ModelCard("toy_tiny.v1", "openbind.zoo.toy:build", ("text",), 8, weights, **kw)


def test_hf_repo_pins_a_commit_and_builds_resolve_urls() -> None:
    repo = HfRepo(
        "org/toy", REV, files=("config.json", WeightFile("model.safetensors", "", "a" * 64, 5))
    )
    assert [f.url for f in repo] == [
        f"https://huggingface.co/org/toy/resolve/{REV}/config.json",
        f"https://huggingface.co/org/toy/resolve/{REV}/model.safetensors",
    ]
    assert repo[1].sha256 == "a" * 64 and len(repo) == 2
    with pytest.raises(ConfigError, match=r"full commit hash .* got 'main'"):
        HfRepo("org/toy", "main")
    with pytest.raises(ConfigError, match="not a repository id"):
        HfRepo("org/toy/extra", REV)
    with pytest.raises(ConfigError, match=r"'\.\./x' is not a path inside the repo"):
        HfRepo("org/toy", REV, files=("../x",))


def test_card_takes_weight_files_and_checks_preprocessing() -> None:
    wf = WeightFile("w.pth", "https://example.org/w.pth")
    assert _card((wf,)).weights == UrlFiles((wf,))
    assert _card(()).weights == Packaged()
    with pytest.raises(TypeError, match="options"):  # the untyped dict is gone: fields only
        _card((), options={"config": "small"})
    with pytest.raises(ConfigError, match=r"modalities it lacks: \['image'\]"):
        _card((), preprocess={"image": Preprocess("m:T")})
    with pytest.raises(ConfigError, match="expected 'module:Class'"):
        Preprocess("ImageTransform")
    with pytest.raises(ConfigError, match="settings given without a config class"):
        Preprocess("m:T", settings={"size": 3})


def test_builtin_cards_aliases_sizes_and_sources() -> None:
    ib = registry.get("imagebind_huge")
    assert registry.aliases_of(ib.name) == ("imagebind", "imagebind_huge")
    assert ib.arch == "huge" and isinstance(ib.weights, UrlFiles)
    # 1,200,786,990 float32 elements (reference facts); not exact, so never checked against the file
    assert ib.download_size == 4_803_147_960 and not ib.size_is_exact
    assert ib.weights[0].size == 0
    starter = registry.get("starter")
    assert registry.aliases_of(starter.name) == ("starter", "starter_base")
    assert isinstance(starter.weights, Packaged) and starter.download_size == 0


def test_builtin_preprocessing_is_typed_and_complete() -> None:
    from openbind.space.build import preprocess_config

    ib = registry.get("imagebind_huge")
    assert set(ib.preprocess) == set(ib.modalities)
    image = preprocess_config(ib.preprocess["image"])
    assert type(image).__name__ == "ImageConfig" and image.mean == (
        0.48145466,
        0.4578275,
        0.40821073,
    )
    starter = registry.get("starter")
    image = preprocess_config(starter.preprocess["image"])
    assert image.mean == (127 / 255,) * 3 and image.std == (128 / 255,) * 3
    video = preprocess_config(starter.preprocess["video"])
    assert (video.clips_per_video, video.frames_per_clip, video.spatial_crops) == (8, 1, 1)


def _contract() -> tuple[list[str], list[str]]:
    [contract] = [
        c
        for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
            "contracts"
        ]
        if c["name"] == "core never imports the layers on top"
    ]
    return contract["source_modules"], contract["forbidden_modules"]


def _builders() -> dict[str, str]:
    """Every builder the library names by string: cards' builders and tower sidecars' builders."""
    found = {e.name: e.builder for e in registry.list_models()}
    for sidecar in (ROOT / "src" / "openbind" / "zoo" / "data").glob("*.json"):
        spec = json.loads(sidecar.read_text())
        if "builder" in spec:
            found[sidecar.name] = spec["builder"]
    return found


def test_builders_named_by_string_stay_in_the_model_layer() -> None:
    core, forbidden = _contract()
    assert all(p in core for p in registry.BUILDER_PACKAGES)
    assert not any(p.startswith(tuple(forbidden)) for p in registry.BUILDER_PACKAGES)
    builders = _builders()
    assert "starter_audio.json" in builders and "imagebind_huge.official" in builders
    for where, path in builders.items():
        registry.check_builder(path)  # raises ConfigError naming the builder
        assert not path.startswith(tuple(forbidden)), where
    for bad in ("openbind.train.towers:build", "openbind.cli.main:main", "tests.toy:build"):
        with pytest.raises(ConfigError, match="outside the model layer"):
            registry.check_builder(bad)
    with pytest.raises(ConfigError, match="expected 'module:function'"):
        registry.check_builder("openbind.zoo.starter.build")


# -- resolving weight sources ----------------------------------------------------------------


@pytest.fixture
def hf_server(monkeypatch):
    """A local stand-in for huggingface.co serving `FILES` under /org/toy/resolve/REV/."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            requests.append(self.path)
            name = self.path.removeprefix(f"/org/toy/resolve/{REV}/")
            if name not in FILES:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(FILES[name])))
            self.end_headers()
            self.wfile.write(FILES[name])

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setattr(cards, "HF_ENDPOINT", f"http://127.0.0.1:{httpd.server_address[1]}")
    yield requests
    httpd.shutdown()
    httpd.server_close()


def _hf_card() -> ModelCard:
    sha = {n: hashlib.sha256(b).hexdigest() for n, b in FILES.items()}
    files = tuple(WeightFile(n, "", sha[n], len(b)) for n, b in FILES.items())
    return _card(HfRepo("org/toy", REV, files=files))


@pytest.mark.network
def test_hf_repo_downloads_into_a_checked_hf_folder(hf_server, home) -> None:
    from openbind.checkpoint import hf_weight_files

    resolve = hub.resolve_weights
    folder = resolve(_hf_card(), None)
    assert folder == home / "models" / "toy_tiny.v1"
    assert (folder / "config.json").read_bytes() == FILES["config.json"]
    assert hf_weight_files(folder) == [folder / "model.safetensors"]
    assert hf_server == [f"/org/toy/resolve/{REV}/{n}" for n in FILES]
    assert resolve(_hf_card(), None, offline=True) == folder  # cached: no request, even offline
    assert len(hf_server) == 2


def test_hf_repo_offline_names_the_card_the_source_and_weights() -> None:
    with pytest.raises(MissingWeights) as err:
        hub.resolve_weights(_hf_card(), None, offline=True)
    message = str(err.value)
    assert message.startswith(
        f"toy_tiny.v1: its weights, from Hugging Face repository org/toy@{REV}"
    )
    assert "Missing in" in message and "config.json, model.safetensors" in message
    assert "--weights PATH" in message and "config.json + *.safetensors" in message


def test_local_folder_source(tmp_path) -> None:
    assert hub.resolve_weights(_card(LocalFolder(str(tmp_path))), None) == tmp_path
    gone = tmp_path / "gone"
    with pytest.raises(
        MissingWeights, match=rf"toy_tiny.v1: .*local folder {gone}, does not exist.*--weights PATH"
    ):
        hub.resolve_weights(_card(LocalFolder(str(gone))), None)


def _parts_card() -> ModelCard:
    repo = _hf_card().weights
    return _card(Parts({"image": repo, "audio": repo}))


@pytest.mark.network
def test_parts_fetch_only_the_parts_a_load_needs(hf_server, home) -> None:
    card = _parts_card()
    assert [f.filename for f in card.weights] == [
        "image/config.json",
        "image/model.safetensors",
        "audio/config.json",
        "audio/model.safetensors",
    ]
    folder = hub.resolve_weights(card, None, parts=["audio"])
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.safetensors")) == [
        "audio/model.safetensors"
    ]
    assert len(hf_server) == 2
    with pytest.raises(MissingWeights) as err:
        hub.resolve_weights(card, None, parts=["image"], offline=True)
    assert f"org/toy@{REV}" in str(err.value)
    assert "image/config.json, image/model.safetensors" in str(err.value)
    with pytest.raises(MissingWeights, match=r"no weight parts \['depth'\]"):
        hub.resolve_weights(card, None, parts=["depth"])


def test_parts_must_be_downloadable_sources_with_folder_names(tmp_path) -> None:
    with pytest.raises(ConfigError, match="must be UrlFiles or HfRepo"):
        Parts({"image": LocalFolder(str(tmp_path))})
    with pytest.raises(ConfigError, match="not a folder name"):
        Parts({"../x": UrlFiles(())})
    assert cards.source_to_dict(_parts_card().weights)["parts"]["audio"]["kind"] == "HfRepo"
