"""The FastAPI app over a `Service`: OpenAI-compatible embeddings, search, classify, media, web page.

Endpoints (schema at `/openapi.json`, docs at `/docs`):

- `POST /v1/embeddings` (also `/embeddings`): `{model, input: str | [str], modality?,
  encoding_format?}`; non-text inputs are base64 or `data:` URIs.
- `POST /search`: multipart form with `text` and/or `file` uploads, `weights`, `k`, `modality`.
- `POST /classify`: multipart form with `file` or `text`, and `labels` or `label_set`.
- `GET /models`, `GET /health`, `GET /media/{id}` (files inside the index's roots only), `GET /`.

Every error is JSON `{"error": {"message", "type", "param", "code"}}`, `param` naming the field.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from openbind import registry
from openbind.errors import BadInput, MissingModality, UnknownModel
from openbind.serve.inputs import InputError, QueryPart, decode_base64, media_part
from openbind.serve.security import (
    ApiKeyGuard,
    BodyLimit,
    RateLimit,
    add_error_handlers,
    error_body,
)
from openbind.serve.service import Service
from openbind.types import Modality

log = logging.getLogger("openbind.serve")

STATIC = Path(__file__).parent / "static"
MAX_INPUTS = 2048


@dataclass(frozen=True)
class ServeSettings:
    """Limits and access control of the HTTP server.

    Attributes:
        api_key: when set, every path but `/health` needs it (Bearer, X-API-Key or Basic).
        max_upload_bytes: largest request body; larger ones get 413.
        rate_limit: requests per minute per client address (0 turns the limit off).
        rate_burst: requests a client may make at once before the rate applies.
    """

    api_key: str | None = None
    max_upload_bytes: int = 32 * 2**20
    rate_limit: float = 1200.0
    rate_burst: int = 120


# -- request and response bodies ---------------------------------------------------------------


class EmbeddingsRequest(BaseModel):
    """OpenAI's embeddings request, plus `modality` for non-text inputs."""

    model: str = Field(description="the served model's id or a registry alias of it")
    input: str | list[str] = Field(description="text, or base64 / data: URIs for other modalities")
    modality: str = Field("text", description="text, image, video, audio, depth, thermal or imu")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, description="must equal the model's dimension if given")
    user: str | None = None


class EmbeddingItem(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    """openbind counts one token per input item: modalities share no token unit."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: Usage


class HitOut(BaseModel):
    id: int
    score: float
    path: str
    modality: str
    media_url: str
    metadata: dict


class SearchResponse(BaseModel):
    model: str
    hits: list[HitOut]


class LabelOut(BaseModel):
    label: str
    probability: float
    score: float


class ClassifyResponse(BaseModel):
    model: str
    modality: str
    labels: list[LabelOut]


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    owned_by: str = "openbind"
    dim: int
    modalities: list[str]


class ModelsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class HealthResponse(BaseModel):
    status: str
    model: str
    modalities: list[str]
    library: str | None
    items: int
    requests: int
    batches: int


# -- the app -------------------------------------------------------------------------------------


def create_app(service: Service, settings: ServeSettings | None = None) -> FastAPI:
    """The HTTP app over `service`, with its limits and optional API key.

    Example:
        >>> app = create_app(Service(openbind.load("starter")), ServeSettings(api_key="s3cret"))
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    settings = settings or ServeSettings()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await service.aclose()

    app = FastAPI(
        title="openbind",
        version=_version(),
        description="Embeddings, search and zero-shot classification in one multimodal space.",
        lifespan=lifespan,
    )
    app.state.service = service
    _add_error_handlers(app)
    _add_routes(app, service)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Middleware runs outermost-last-added: rate limit, then key, then body size.
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    if settings.api_key:
        app.add_middleware(ApiKeyGuard, api_key=settings.api_key)
    if settings.rate_limit > 0:
        app.add_middleware(RateLimit, per_minute=settings.rate_limit, burst=settings.rate_burst)
    return app


def _add_routes(app: FastAPI, service: Service) -> None:
    @app.post("/v1/embeddings", response_model=EmbeddingsResponse, tags=["embeddings"])
    @app.post("/embeddings", response_model=EmbeddingsResponse, include_in_schema=False)
    async def embeddings(body: EmbeddingsRequest) -> EmbeddingsResponse:
        """Embed text or base64 media into the space (OpenAI-compatible)."""
        _check_model(body.model, service)
        if body.dimensions is not None and body.dimensions != service.space.dim:
            raise InputError("dimensions", f"this model has {service.space.dim} dimensions only")
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not texts:
            raise InputError("input", "is an empty list")
        if len(texts) > MAX_INPUTS:
            raise InputError("input", f"has {len(texts)} items; at most {MAX_INPUTS} per request")
        modality = _parse_modality(body.modality)
        if modality is Modality.TEXT:
            for i, t in enumerate(texts):
                if not t.strip():
                    raise InputError(f"input[{i}]", "is empty")
            items: list = texts
        else:
            # off the event loop: 32 MB of base64 takes ~0.2 s that no other request should wait
            items = await asyncio.to_thread(
                lambda: [decode_base64(t, f"input[{i}]")[0] for i, t in enumerate(texts)]
            )
        emb = await service.embed(modality, items)
        vectors = emb.numpy()
        data = [
            EmbeddingItem(index=i, embedding=_encode_vector(v, body.encoding_format))
            for i, v in enumerate(vectors)
        ]
        return EmbeddingsResponse(
            data=data,
            model=service.model_id,
            usage=Usage(prompt_tokens=len(items), total_tokens=len(items)),
        )

    @app.post("/search", response_model=SearchResponse, tags=["search"])
    async def search(
        text: Annotated[str | None, Form(description="text query")] = None,
        file: Annotated[
            list[UploadFile] | None, File(description="query files (any modality)")
        ] = None,
        file_modality: Annotated[
            str | None, Form(description="modality of the files, if not guessable")
        ] = None,
        weights: Annotated[
            str | None, Form(description="comma-separated weights: text first, then files")
        ] = None,
        k: Annotated[int, Form(description="number of hits")] = 10,
        modality: Annotated[
            str | None, Form(description="only return items of this modality")
        ] = None,
    ) -> SearchResponse:
        """Search the index with text and/or uploaded media, combined with weights."""
        parts: list[QueryPart] = []
        if text is not None and text.strip():
            parts.append(QueryPart(Modality.TEXT, text.strip(), "text"))
        for i, upload in enumerate(file or []):
            data = await upload.read()
            field = "file" if len(file or []) == 1 else f"file[{i}]"
            parts.append(
                media_part(
                    data,
                    field,
                    modality=file_modality or None,
                    filename=upload.filename,
                    content_type=upload.content_type,
                )
            )
        parts = _with_weights(parts, weights)
        hits = await service.search(parts, k=k, modality=modality or None)
        out = [
            HitOut(
                id=h.id,
                score=h.score,
                path=h.path,
                modality=h.modality.value,
                media_url=h.media_url,
                metadata=h.metadata,
            )
            for h in hits
        ]
        return SearchResponse(model=service.model_id, hits=out)

    @app.post("/classify", response_model=ClassifyResponse, tags=["classify"])
    async def classify(
        file: Annotated[UploadFile | None, File(description="the input to label")] = None,
        text: Annotated[str | None, Form(description="a text to label instead of a file")] = None,
        labels: Annotated[
            str | None, Form(description="candidate labels, comma- or newline-separated")
        ] = None,
        label_set: Annotated[
            str, Form(description="named label set used when labels is empty")
        ] = "default",
        modality: Annotated[
            str | None, Form(description="modality of the file, if not guessable")
        ] = None,
    ) -> ClassifyResponse:
        """Zero-shot labels of an upload (or a text) against a label list."""
        if file is not None:
            part = media_part(
                await file.read(),
                "file",
                modality=modality or None,
                filename=file.filename,
                content_type=file.content_type,
            )
        elif text is not None and text.strip():
            part = QueryPart(Modality.TEXT, text.strip(), "text")
        else:
            raise InputError("file", "give a file or a text to classify")
        names = _split_labels(labels)
        scores = await service.classify(part, names or None, label_set=label_set)
        out = [LabelOut(label=s.label, probability=s.probability, score=s.score) for s in scores]
        return ClassifyResponse(model=service.model_id, modality=part.modality.value, labels=out)

    @app.get("/models", response_model=ModelsResponse, tags=["info"])
    @app.get("/v1/models", response_model=ModelsResponse, include_in_schema=False)
    async def models() -> ModelsResponse:
        """The model this server runs."""
        data = [
            ModelOut(id=m.id, dim=m.dim, modalities=[x.value for x in m.modalities])
            for m in service.models()
        ]
        return ModelsResponse(data=data)

    @app.get("/health", response_model=HealthResponse, tags=["info"])
    async def health() -> HealthResponse:
        """Liveness, model, library size and batching counters (needs no API key)."""
        h = service.health()
        return HealthResponse(
            status=h.status,
            model=h.model,
            modalities=[m.value for m in h.modalities],
            library=h.library,
            items=h.items,
            requests=h.batches.requests,
            batches=h.batches.batches,
        )

    @app.get("/media/{item_id}", tags=["search"], response_class=FileResponse)
    async def media(item_id: int) -> FileResponse:
        """The indexed file of a search hit (only files inside the index's roots)."""
        return FileResponse(service.media_path(item_id))

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")


def _add_error_handlers(app: FastAPI) -> None:
    add_error_handlers(app)  # invalid JSON bodies, request timeouts (serve.security)

    @app.exception_handler(InputError)
    async def input_error(_: Request, e: InputError) -> JSONResponse:
        if e.field == "id":
            return JSONResponse(
                error_body("not found", "not_found_error", code="not_found"), status_code=404
            )
        if e.field == "model":
            return JSONResponse(
                error_body(str(e), "invalid_request_error", param="model", code="model_not_found"),
                status_code=404,
            )
        return JSONResponse(
            error_body(str(e), "invalid_request_error", param=e.field, code="invalid_value"),
            status_code=400,
        )

    @app.exception_handler(MissingModality)
    async def missing_modality(_: Request, e: MissingModality) -> JSONResponse:
        return JSONResponse(
            error_body(str(e), "invalid_request_error", param="modality", code="invalid_value"),
            status_code=400,
        )

    @app.exception_handler(BadInput)
    async def bad_input(_: Request, e: BadInput) -> JSONResponse:
        return JSONResponse(
            error_body(str(e), "invalid_request_error", code="invalid_value"), status_code=400
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {"loc": (), "msg": "invalid request"}
        param = _param(first.get("loc", ()))
        message = (
            f"{param}: {first.get('msg', 'invalid')}"
            if param
            else str(first.get("msg", "invalid request"))
        )
        return JSONResponse(
            error_body(message, "invalid_request_error", param=param, code="invalid_value"),
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def crash(request: Request, e: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal server error", "server_error", code="internal"), status_code=500
        )


# -- helpers ---------------------------------------------------------------------------------------


def _check_model(name: str, service: Service) -> None:
    if name == service.model_id:
        return
    try:
        if registry.get(name).name == service.model_id:
            return
    except UnknownModel:
        pass
    raise InputError(
        "model", f"model {name!r} is not served here; this server runs {service.model_id!r}"
    )


def _parse_modality(value: str) -> Modality:
    try:
        return Modality.parse(value)
    except BadInput as e:
        raise InputError("modality", str(e)) from None


def _encode_vector(v: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
    return v.astype(float).tolist()


def _with_weights(parts: list[QueryPart], weights: str | None) -> list[QueryPart]:
    if weights is None or not weights.strip():
        return parts
    try:
        values = [float(w) for w in weights.replace(" ", "").split(",")]
    except ValueError:
        raise InputError("weights", f"must be comma-separated numbers, got {weights!r}") from None
    if len(values) != len(parts):
        raise InputError(
            "weights",
            f"has {len(values)} numbers for {len(parts)} query inputs (text first, then files)",
        )
    return [QueryPart(p.modality, p.item, p.field, w) for p, w in zip(parts, values, strict=True)]


def _split_labels(labels: str | None) -> list[str]:
    if labels is None:
        return []
    sep = "\n" if "\n" in labels else ","
    return [x.strip() for x in labels.split(sep) if x.strip()]


def _param(loc: tuple | list) -> str | None:
    """The field a validation error is about: its name and list indices ("input[1]").

    Pydantic adds the union member tried ("str", "list[str]") to the location; those are left out.
    """
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    if not parts:
        return None
    return str(parts[0]) + "".join(f"[{p}]" for p in parts[1:] if isinstance(p, int))


def _version() -> str:
    from openbind import __version__

    return __version__
