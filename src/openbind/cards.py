"""Model cards: what a registered model is, where its weights come from, and how its inputs are prepared.

A `ModelCard` is plain data (this module imports neither torch nor any model code), so listing
the registry stays cheap. It names:

- the model (`family_variant.tag`), its aliases, modalities, output dimension, licence;
- its weight source: `UrlFiles` (files at URLs), `HfRepo` (a Hugging Face repository at a pinned
  commit), `LocalFolder` (a folder on this machine), `Packaged` (weights that install with
  Python packages) or `Parts` (one URL/HF source per part, e.g. per modality); every source is
  the sequence of the files it downloads, with sha256 and size where known;
- the builder (`"module:function"`) that `openbind.load` calls, and the family's architecture
  preset (`arch`);
- the preprocessing of every modality (`Preprocess`: a typed config class named by path, and the
  settings the weights were trained with), turned into transforms when the model is loaded.

Example:
    >>> card = ModelCard(
    ...     name="toy_tiny.v1", builder="openbind.zoo.toy:build", modalities=("text", "image"),
    ...     dim=8, weights=HfRepo("org/toy", "0123456789abcdef0123456789abcdef01234567",
    ...                           files=("config.json", "model.safetensors")),
    ... )
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from openbind.errors import ConfigError

COMMIT = re.compile(r"[0-9a-f]{40}")
"""A full git commit hash (what `HfRepo.revision` must be, and what the hub pins record)."""
_HF_REPO = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
HF_ENDPOINT = "https://huggingface.co"
_HF_RESOLVE_URL = re.compile(r"(?P<repo>https?://.+?)/resolve/(?P<rev>[^/]+)/(?P<file>.+)")


def hub_branch_url(url: str) -> re.Match | None:
    """The parts (`repo`, `rev`, `file`) of a Hugging Face file URL at a branch, not a commit
    (`<endpoint>/<repo>/resolve/<branch>/<file>`): `openbind.hub` pins those on first download.
    None for any other URL."""
    m = _HF_RESOLVE_URL.fullmatch(url)
    return m if m is not None and not COMMIT.fullmatch(m["rev"]) else None


@dataclass(frozen=True)
class WeightFile:
    """One downloadable file of a model's weights.

    Attributes:
        filename: name in the cache folder of the model (may contain folders: "text/model.bin").
        url: where `hub.fetch` downloads it from (https, or file:// for local mirrors).
        sha256: expected checksum (hex); None when not published.
        size: exact size in bytes, checked after download (0 if unknown).
        approx_size: size in bytes to show and check disk space with when the exact size is not
            known (never checked against the file).
    """

    filename: str
    url: str
    sha256: str | None = None
    size: int = 0
    approx_size: int = 0

    @property
    def download_size(self) -> int:
        """The exact size if known, else the approximate one (0 if neither is)."""
        return self.size or self.approx_size


class _Files:
    """A weight source is the sequence of the files it downloads (`len`, iteration)."""

    files: tuple[WeightFile, ...] = ()

    def __iter__(self) -> Iterator[WeightFile]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> WeightFile:
        return self.files[index]


@dataclass(frozen=True)
class UrlFiles(_Files):
    """Weight files downloaded from URLs (the cache folder holds them under their file names)."""

    files: tuple[WeightFile, ...] = ()

    def describe(self) -> str:
        text = "files at " + (", ".join(f.url for f in self.files) or "(none)")
        branches = {m["rev"] for f in self.files if (m := hub_branch_url(f.url))}
        if branches:  # openbind.hub pins these to a commit when it first downloads them
            text += f" (revision {', '.join(sorted(branches))}, pinned on first download)"
        return text


@dataclass(frozen=True, init=False)
class HfRepo(_Files):
    """Files of a Hugging Face repository at a pinned commit.

    They are downloaded with the other weights (`openbind.hub`: cached, resumed, checksummed) from
    `https://huggingface.co/<repo_id>/resolve/<revision>/<file>` into the model's cache folder,
    which then is a Hugging Face-format folder (`config.json` + weights).

    Attributes:
        repo_id: "org/name".
        revision: the full commit hash (40 hex digits); branch names are refused, so a card always
            loads the same bytes.
        files: the files to fetch; names (str) or `WeightFile`s with sha256/size (their `url` is
            filled in).
    """

    repo_id: str
    revision: str
    files: tuple[WeightFile, ...] = ()

    def __init__(
        self, repo_id: str, revision: str, files: tuple[WeightFile | str, ...] = ()
    ) -> None:
        if not _HF_REPO.fullmatch(repo_id):
            raise ConfigError(f"HfRepo: {repo_id!r} is not a repository id ('org/name')")
        if not COMMIT.fullmatch(revision):
            raise ConfigError(
                f"HfRepo {repo_id}: revision must be a full commit hash (40 hex digits), "
                f"got {revision!r}"
            )
        for f in files:
            name = f.filename if isinstance(f, WeightFile) else f
            if name.startswith("/") or ".." in name.split("/"):
                raise ConfigError(f"HfRepo {repo_id}: file {name!r} is not a path inside the repo")
        resolved = tuple(
            replace(f, url=f.url or self.url(f.filename, repo_id, revision))
            if isinstance(f, WeightFile)
            else WeightFile(f, self.url(f, repo_id, revision))
            for f in files
        )
        object.__setattr__(self, "repo_id", repo_id)
        object.__setattr__(self, "revision", revision)
        object.__setattr__(self, "files", resolved)

    @staticmethod
    def url(filename: str, repo_id: str, revision: str) -> str:
        return f"{HF_ENDPOINT}/{repo_id}/resolve/{revision}/{filename}"

    def describe(self) -> str:
        return f"Hugging Face repository {self.repo_id}@{self.revision}"


@dataclass(frozen=True)
class LocalFolder(_Files):
    """A folder on this machine (a checkpoint file's folder, a converted folder, or a Hugging Face
    folder); nothing is downloaded.
    """

    path: str

    def describe(self) -> str:
        return f"local folder {self.path}"


@dataclass(frozen=True)
class Packaged(_Files):
    """Weights that install with Python packages (e.g. `openbind[starter]`); nothing is downloaded.

    Attributes:
        packages: the distributions that carry them, for messages and `openbind models`.
    """

    packages: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"installed packages ({', '.join(self.packages)})" if self.packages else "packaged"


@dataclass(frozen=True)
class Parts(_Files):
    """Several downloadable sources, one per part: e.g. one Hugging Face repository per modality,
    as LanguageBind publishes them.

    Part `p`'s files are cached in the subfolder `p/` of the model's cache folder (and a
    `--weights` folder given instead has the same subfolders); only the parts a load needs are
    fetched.

    Attributes:
        parts: part name -> its source.
    """

    parts: Mapping[str, UrlFiles | HfRepo]

    def __post_init__(self) -> None:
        for name, source in self.parts.items():
            if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
                raise ConfigError(f"Parts: part name {name!r} is not a folder name")
            if not isinstance(source, (UrlFiles, HfRepo)):
                raise ConfigError(f"Parts: part {name!r} must be UrlFiles or HfRepo")

    @property
    def files(self) -> tuple[WeightFile, ...]:  # type: ignore[override]
        return tuple(
            replace(f, filename=f"{name}/{f.filename}")
            for name, source in self.parts.items()
            for f in source
        )

    def part_files(self, name: str) -> tuple[WeightFile, ...]:
        """The files of part `name`, named as in the cache folder (`<name>/<file>`)."""
        return tuple(replace(f, filename=f"{name}/{f.filename}") for f in self.parts[name])

    def describe(self) -> str:
        return "; ".join(f"{name}: {s.describe()}" for name, s in self.parts.items())


WeightSource = UrlFiles | HfRepo | LocalFolder | Packaged | Parts


@dataclass(frozen=True)
class Preprocess:
    """How one modality's inputs are prepared for the weights.

    Attributes:
        transform: "module:Class" of the transform; called as `Class(config)` (or `Class()` when
            `config` is empty).
        config: "module:Class" of its frozen config dataclass (e.g. `ImageConfig`), or "".
        settings: field values of `config` that differ from its defaults (JSON values; checked
            and typed by `openbind.config.from_dict` when the model is loaded).
    """

    transform: str
    config: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what in ("transform", "config"):
            value = getattr(self, what)
            module, sep, name = value.partition(":")
            if (value or what == "transform") and not (sep and module and name.isidentifier()):
                raise ConfigError(f"Preprocess.{what}: expected 'module:Class', got {value!r}")
        if self.settings and not self.config:
            raise ConfigError(f"Preprocess {self.transform}: settings given without a config class")


@dataclass(frozen=True)
class ModelCard:
    """A registered space model.

    Attributes:
        name: `family_variant.tag`, e.g. "imagebind_huge.official".
        builder: "module:function" of `build(card, *, modalities, weights) -> SpaceModel`; it must
            live in the model layer (`openbind.zoo`, `openbind.encoders`, `openbind.space`), never
            in train/fusion/serve/cli/pipeline/eval.
        modalities: the modalities the model can embed (values of `Modality`).
        dim: dimension of the shared space.
        weights: where the weights come from; a tuple of `WeightFile`s is taken as `UrlFiles`.
        license: licence of the weights.
        description: one line for `openbind models`.
        aliases: short names that also resolve to this card (e.g. "starter").
        arch: the family's architecture preset (ImageBind: "huge" or "small"; the starter: the
            name of its settings file); "" lets the family choose.
        preprocess: modality -> its preprocessing; a modality left out gets the family's default.
    """

    name: str
    builder: str
    modalities: tuple[str, ...]
    dim: int
    weights: WeightSource = field(default_factory=Packaged)
    license: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()
    arch: str = ""
    preprocess: Mapping[str, Preprocess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.weights, tuple):
            object.__setattr__(
                self, "weights", UrlFiles(self.weights) if self.weights else Packaged()
            )
        unknown = sorted(set(self.preprocess) - set(self.modalities))
        if unknown:
            raise ConfigError(f"{self.name}: preprocessing for modalities it lacks: {unknown}")

    @property
    def family(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def variant(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def tag(self) -> str:
        return self.name.split(".", 1)[1] if "." in self.name else ""

    @property
    def download_size(self) -> int:
        """Bytes to download (exact or approximate; 0 if unknown or nothing to download)."""
        return sum(f.download_size for f in self.weights)

    @property
    def size_is_exact(self) -> bool:
        """Whether every file's size is known exactly."""
        return all(f.size for f in self.weights)

    def describe_source(self) -> str:
        """The weight source in words, for messages."""
        return self.weights.describe()


def source_to_dict(source: WeightSource) -> dict[str, Any]:
    """A JSON-ready description of a weight source (`openbind models --json`)."""
    out: dict[str, Any] = {"kind": type(source).__name__}
    if isinstance(source, HfRepo):
        out |= {"repo_id": source.repo_id, "revision": source.revision}
    elif isinstance(source, LocalFolder):
        out["path"] = str(Path(source.path).expanduser())
    elif isinstance(source, Packaged):
        out["packages"] = list(source.packages)
    elif isinstance(source, Parts):
        out["parts"] = {name: source_to_dict(s) for name, s in source.parts.items()}
    out["files"] = [
        {"filename": f.filename, "url": f.url, "sha256": f.sha256, "size": f.download_size,
         "size_exact": bool(f.size)}
        for f in source
    ]  # fmt: skip
    return out
