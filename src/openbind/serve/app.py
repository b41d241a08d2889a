"""The FastAPI app over a `Service`: OpenAI-compatible embeddings, search, classify, media, web page.

Endpoints (schema at `/openapi.json`, docs at `/docs`):

- `POST /v1/embeddings` (also `/embeddings`): `{model, input: str | [str], modality?,
  encoding_format?}`; non-text inputs are base64 or `data:` URIs, and a `data:` URI's MIME type
  implies its modality (a contradicting `modality` is a 400).
- `POST /search`: a JSON body or a multipart form: text, media (uploads, base64 or `data:`), a raw
  `vector`, `weights`, `k`, `offset`, `modality` and `filter`. `GET /search?q=...&k=...` too.
- `POST /classify`: JSON or form with a file / media / text, and `labels` or `label_set`.
- `GET /models`, `GET /health`, `GET /media/{id}` (files inside the index's roots only), `GET /`.
- `GET /docs` and `/redoc`: API docs served from local assets (no CDN).

Every error, on every route (404 and 405 included), is JSON
`{"error": {"message", "type", "param", "code"}}`, `param` naming the field. Errors are mapped by
type (`InputError` 400, `UnknownId` 404, `SpaceMismatch` 400, `VectorIndexError` 503).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from openbind import registry
from openbind.errors import (
    BadInput,
    MissingModality,
    RequestTimeout,
    SpaceMismatch,
    UnknownId,
    UnknownModel,
    VectorIndexError,
)
from openbind.index import Hit
from openbind.serve.inputs import (
    InputError,
    QueryPart,
    check_implied,
    decode_base64,
    implied_modality,
    media_part,
    media_value,
)
from openbind.serve.security import ApiKeyGuard, BodyLimit, RateLimit, error_body
from openbind.serve.service import Service
from openbind.types import Modality

log = logging.getLogger("openbind.serve")

M = TypeVar("M", bound=BaseModel)
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
    modality: str | None = Field(
        None,
        description="text, image, video, audio, depth, thermal or imu; default: implied by "
        "data: URIs, else text",
    )
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


class SearchRequest(BaseModel):
    """A search as a JSON body (a multipart form takes the same fields, files as `file`)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="a text query")
    q: str | None = Field(None, description="the same as text")
    media: str | list[str] | None = Field(
        None, description="query media as base64 or data: URIs (their MIME type says the modality)"
    )
    media_modality: str | None = Field(None, description="modality of plain base64 media")
    vector: list[float] | None = Field(None, description="a raw query vector of the space's dim")
    weights: str | list[float] | None = Field(
        None, description="one weight per part: text first, then media/files, then the vector"
    )
    k: int = Field(10, description="number of hits (1-1000)")
    offset: int = Field(0, description="rank of the first hit (pagination)")
    modality: str | None = Field(None, description="only return items of this modality")
    filter: dict[str, Any] | list[str] | str | None = Field(
        None,
        description="only items meeting it: {modality, path_prefix, path_glob, mtime_min, "
        "mtime_max, size_min, size_max, tags: {name: value}} or expressions like "
        "'size<1000000', 'tag.place=beach'",
    )


class ClassifyRequest(BaseModel):
    """A zero-shot classification as a JSON body."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="a text to label")
    media: str | None = Field(None, description="the input as base64 or a data: URI")
    modality: str | None = Field(None, description="its modality, if not implied or detectable")
    labels: str | list[str] | None = Field(None, description="candidate labels")
    label_set: str = Field("default", description="named label set used when labels is empty")


class SearchResponse(BaseModel):
    """A page of hits; the file of a hit is at `/media/{id}`, its `path` is relative."""

    model: str
    hits: list[Hit]
    total: int = Field(description="items meeting the filters")
    offset: int
    k: int
    generation: int = Field(description="the library generation that answered")
    media_url: str = Field("/media/{id}", description="where the file of a hit is served")


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
    generation: int
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
        service.start()  # forks the heavy worker before any request thread runs
        yield
        await service.aclose()

    app = FastAPI(
        title="openbind",
        version=_version(),
        description="Embeddings, search and zero-shot classification in one multimodal space.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    _add_error_handlers(app)
    _add_routes(app, service)
    _add_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Middleware runs outermost-last-added: rate limit, then key, then body size.
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    if settings.api_key:
        app.add_middleware(ApiKeyGuard, api_key=settings.api_key)
    if settings.rate_limit > 0:
        app.add_middleware(RateLimit, per_minute=settings.rate_limit, burst=settings.rate_burst)
    return app


def _add_routes(app: FastAPI, service: Service) -> None:
    @app.post(
        "/v1/embeddings",
        response_model=EmbeddingsResponse,
        tags=["embeddings"],
        openapi_extra=_body_doc(EmbeddingsRequest),
    )
    @app.post("/embeddings", response_model=EmbeddingsResponse, include_in_schema=False)
    async def embeddings(request: Request) -> EmbeddingsResponse:
        """Embed text or base64 media into the space (OpenAI-compatible)."""
        body, parts = await service.read_request(await request.body(), _read_embeddings)
        emb = await service.embed_parts(parts)
        vectors = emb.numpy()
        data = [
            EmbeddingItem(index=i, embedding=_encode_vector(v, body.encoding_format))
            for i, v in enumerate(vectors)
        ]
        return EmbeddingsResponse(
            data=data,
            model=service.model_id,
            usage=Usage(prompt_tokens=len(parts), total_tokens=len(parts)),
        )

    @app.post(
        "/search",
        response_model=SearchResponse,
        tags=["search"],
        openapi_extra=_body_doc(SearchRequest, SEARCH_FORM),
    )
    async def search(request: Request) -> SearchResponse:
        """Search the library with text, media and/or a vector, combined with weights, filtered.

        Takes a JSON body (`SearchRequest`) or a multipart form with the same fields, query
        files as repeated `file` uploads and `file_modality` for their modality.
        """
        if _is_json(request):
            body, parts = await service.read_request(await request.body(), _read_search)
        else:
            body, parts = await _form_search(request)
        return await _search(service, body, parts)

    @app.get("/search", response_model=SearchResponse, tags=["search"])
    async def search_link(
        q: Annotated[str, Query(description="a text query")],
        k: Annotated[int, Query(description="number of hits")] = 10,
        offset: Annotated[int, Query(description="rank of the first hit")] = 0,
        modality: Annotated[str | None, Query(description="only this modality")] = None,
        filter: Annotated[
            list[str] | None, Query(description="filter expressions, e.g. size<1000000")
        ] = None,
    ) -> SearchResponse:
        """Search with a text query given in the URL (for links and quick tries)."""
        body = SearchRequest(text=q, k=k, offset=offset, modality=modality, filter=filter)
        return await _search(service, body, _json_parts(body))

    @app.post(
        "/classify",
        response_model=ClassifyResponse,
        tags=["classify"],
        openapi_extra=_body_doc(ClassifyRequest, CLASSIFY_FORM),
    )
    async def classify(request: Request) -> ClassifyResponse:
        """Zero-shot labels of an input (a file, base64 / data: media, or a text).

        Takes a JSON body (`ClassifyRequest`) or a multipart form (`file` or `text`, `labels`,
        `label_set`, `modality`).
        """
        if _is_json(request):
            (body, names), (part,) = await service.read_request(
                await request.body(), _read_classify
            )
            label_set = body.label_set
        else:
            form = await request.form()
            upload = form.get("file")
            text = _form_text(form, "text")
            modality = _form_text(form, "modality") or None
            if isinstance(upload, UploadFile):
                part = media_part(
                    await upload.read(),
                    "file",
                    modality=modality,
                    filename=upload.filename,
                    content_type=upload.content_type,
                )
            elif text is not None and text.strip():
                part = QueryPart(Modality.TEXT, text.strip(), "text")
            else:
                raise InputError("file", "give a file or a text to classify")
            names = _split_labels(_form_text(form, "labels"))
            label_set = _form_text(form, "label_set") or "default"
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
        h = await asyncio.to_thread(service.health)  # may catch up with a new generation
        return HealthResponse(
            status=h.status,
            model=h.model,
            modalities=[m.value for m in h.modalities],
            library=h.library,
            items=h.items,
            generation=h.generation,
            requests=h.batches.requests,
            batches=h.batches.batches,
        )

    @app.get("/media/{item_id}", tags=["search"], response_class=FileResponse)
    async def media(item_id: int) -> FileResponse:
        """The indexed file of a search hit (only files inside the index's roots)."""
        return FileResponse(await asyncio.to_thread(service.media_path, item_id))

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")


def _add_error_handlers(app: FastAPI) -> None:
    def reply(status: int, message: str, type_: str, param: str | None, code: str) -> JSONResponse:
        return JSONResponse(error_body(message, type_, param=param, code=code), status_code=status)

    @app.exception_handler(RequestTimeout)
    async def timeout(_: Request, e: RequestTimeout) -> JSONResponse:
        response = reply(503, str(e), "timeout_error", None, "timeout")
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(InputError)
    async def input_error(_: Request, e: InputError) -> JSONResponse:
        if isinstance(e, BadJson):
            return reply(400, str(e), "invalid_request_error", "body", "invalid_json")
        if e.field == "model":
            return reply(404, str(e), "invalid_request_error", "model", "model_not_found")
        return reply(400, str(e), "invalid_request_error", e.field, "invalid_value")

    @app.exception_handler(UnknownId)
    async def unknown_id(_: Request, e: UnknownId) -> JSONResponse:
        return reply(404, "not found", "not_found_error", None, "not_found")

    @app.exception_handler(MissingModality)
    async def missing_modality(_: Request, e: MissingModality) -> JSONResponse:
        return reply(400, str(e), "invalid_request_error", "modality", "invalid_value")

    @app.exception_handler(SpaceMismatch)
    async def mismatch(_: Request, e: SpaceMismatch) -> JSONResponse:
        return reply(400, str(e), "invalid_request_error", "vector", "invalid_value")

    @app.exception_handler(VectorIndexError)
    async def library_down(_: Request, e: VectorIndexError) -> JSONResponse:
        log.error("library error: %s", e)
        return reply(503, "the library cannot be read", "server_error", "index", "unavailable")

    @app.exception_handler(BadInput)
    async def bad_input(_: Request, e: BadInput) -> JSONResponse:
        param = e.source if isinstance(e.source, str) else None
        return reply(400, str(e), "invalid_request_error", param, "invalid_value")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, e: HTTPException) -> JSONResponse:
        if e.status_code == 404:
            response = reply(404, "not found", "not_found_error", None, "not_found")
        elif e.status_code == 405:
            response = reply(405, "method not allowed", "invalid_request_error", None, "method")
        else:
            response = reply(e.status_code, str(e.detail), "invalid_request_error", None, "http")
        for key, value in (e.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        return _validation_reply(e.errors())

    @app.exception_handler(Exception)
    async def crash(request: Request, e: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return reply(500, "internal server error", "server_error", None, "internal")


def _validation_reply(errors: Any) -> JSONResponse:
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    param = _param(first.get("loc", ()))
    msg = str(first.get("msg", "invalid"))
    message = f"{param}: {msg}" if param else msg
    return JSONResponse(
        error_body(message, "invalid_request_error", param=param, code="invalid_value"),
        status_code=422,
    )


def _add_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` from local assets: they work without internet."""
    assets = _docs_assets()
    if assets is None:  # fastapi-offline missing: a plain page listing the endpoints

        @app.get("/docs", include_in_schema=False)
        @app.get("/redoc", include_in_schema=False)
        async def plain_docs() -> FileResponse:
            return FileResponse(STATIC / "docs.html")

        return
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="openbind API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="openbind API",
            redoc_js_url="/docs-assets/redoc.standalone.js",
            redoc_favicon_url="/docs-assets/favicon.png",
            with_google_fonts=False,
        )


def _docs_assets() -> Path | None:
    """The Swagger UI / ReDoc files shipped by the `fastapi-offline` package, if installed."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    path = Path(fastapi_offline.__file__).parent / "static"
    return path if (path / "swagger-ui-bundle.js").is_file() else None


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


SEARCH_FORM = {
    "text": {"type": "string"},
    "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
    "file_modality": {"type": "string"},
    "vector": {"type": "string", "description": "numbers separated by commas, or a JSON list"},
    "weights": {"type": "string"},
    "k": {"type": "integer"},
    "offset": {"type": "integer"},
    "modality": {"type": "string"},
    "filter": {"type": "array", "items": {"type": "string"}},
}
CLASSIFY_FORM = {
    "file": {"type": "string", "format": "binary"},
    "text": {"type": "string"},
    "labels": {"type": "string"},
    "label_set": {"type": "string"},
    "modality": {"type": "string"},
}


def _body_doc(model: type[BaseModel], form: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI request body of a route that takes JSON (or a multipart form too)."""
    content: dict[str, Any] = {"application/json": {"schema": model.model_json_schema()}}
    if form is not None:
        content["multipart/form-data"] = {"schema": {"type": "object", "properties": form}}
    return {"requestBody": {"required": True, "content": content}}


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return False
    if kind in ("application/json", "") or kind.endswith("+json"):
        return True
    raise InputError("body", f"send JSON or a multipart form, not {kind}")


class BadJson(InputError):
    """The request body is not JSON that can be read (400, `param: "body"`, `invalid_json`)."""

    def __init__(self, detail: str) -> None:
        super().__init__("body", f"is not valid JSON ({detail})")


def _parse_json(raw: bytes, model: type[M]) -> M:
    """A JSON request body as `model` (every JSON route reads its body through here).

    Raises:
        BadJson: not JSON, truncated, or nesting or numbers too deep to read.
        InputError: JSON, but not an object.
        RequestValidationError: an object that does not match `model` (422).
    """
    try:
        data = {} if not raw or raw.isspace() else json.loads(raw)
    except json.JSONDecodeError as e:
        raise BadJson(f"{e.msg}, character {e.pos}") from None
    except UnicodeDecodeError:
        raise BadJson("not UTF-8 text") from None
    except RecursionError:
        raise BadJson("nested too deeply") from None
    except ValueError as e:  # a number of more than 4,300 digits
        raise BadJson(str(e).split(";")[0]) from None
    if not isinstance(data, dict):
        raise InputError("body", "must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:  # without the (maybe huge) input: it may cross processes
        errors = e.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError(errors) from None


# The request readers of the JSON routes, for `Service.read_request`: each parses and checks a
# body and returns it without its large fields, and its query parts. They run in the server's
# heavy worker process for large bodies, so they are module-level functions.


def _read_embeddings(service: Service, raw: bytes) -> tuple[EmbeddingsRequest, list[QueryPart]]:
    body = _parse_json(raw, EmbeddingsRequest)
    _check_model(body.model, service)
    if body.dimensions is not None and body.dimensions != service.space.dim:
        raise InputError("dimensions", f"this model has {service.space.dim} dimensions only")
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise InputError("input", "is an empty list")
    if len(texts) > MAX_INPUTS:
        raise InputError("input", f"has {len(texts)} items; at most {MAX_INPUTS} per request")
    modality, items = _embedding_inputs(texts, body.modality)
    modality = service.check_modality(modality)
    parts = [QueryPart(modality, item, f"input[{i}]") for i, item in enumerate(items)]
    return body.model_copy(update={"input": []}), parts


def _read_search(service: Service, raw: bytes) -> tuple[SearchRequest, list[QueryPart]]:
    body = _parse_json(raw, SearchRequest)
    parts = _json_parts(body)
    return body.model_copy(update={"text": None, "q": None, "media": None}), parts


def _read_classify(
    service: Service, raw: bytes
) -> tuple[tuple[ClassifyRequest, list[str]], list[QueryPart]]:
    body = _parse_json(raw, ClassifyRequest)
    names = service.label_names(_split_labels(body.labels) or None, body.label_set)  # checked first
    if body.media is not None:
        part = media_value(body.media, "media", modality=body.modality or None)
    elif body.text is not None and body.text.strip():
        part = QueryPart(Modality.TEXT, body.text.strip(), "text")
    else:
        raise InputError("media", "give media or a text to classify")
    slim = body.model_copy(update={"text": None, "media": None, "labels": None})
    return (slim, names), [part]


def _json_parts(body: SearchRequest) -> list[QueryPart]:
    parts: list[QueryPart] = []
    text = body.text if body.text is not None else body.q
    if text is not None and text.strip():
        parts.append(QueryPart(Modality.TEXT, text.strip(), "text"))
    media = [body.media] if isinstance(body.media, str) else list(body.media or [])
    for i, value in enumerate(media):
        field = "media" if len(media) == 1 else f"media[{i}]"
        parts.append(media_value(value, field, modality=body.media_modality or None))
    return parts


async def _form_search(request: Request) -> tuple[SearchRequest, list[QueryPart]]:
    form = await request.form()
    uploads = [u for u in form.getlist("file") if isinstance(u, UploadFile)]
    file_modality = _form_text(form, "file_modality") or None
    text = _form_text(form, "text")
    parts: list[QueryPart] = []
    if text is not None and text.strip():
        parts.append(QueryPart(Modality.TEXT, text.strip(), "text"))
    for i, upload in enumerate(uploads):
        field = "file" if len(uploads) == 1 else f"file[{i}]"
        parts.append(
            media_part(
                await upload.read(),
                field,
                modality=file_modality,
                filename=upload.filename,
                content_type=upload.content_type,
            )
        )
    filters = [str(f) for f in form.getlist("filter") if str(f).strip()]
    data: dict[str, Any] = {
        "modality": _form_text(form, "modality") or None,
        "weights": _form_text(form, "weights"),
        "vector": _form_vector(_form_text(form, "vector")),
        "filter": (json.loads(filters[0]) if _is_json_object(filters) else filters) or None,
    }
    for name in ("k", "offset"):
        value = _form_text(form, name)
        if value is not None and value.strip():
            data[name] = value.strip()
    try:
        return SearchRequest.model_validate(data), parts
    except ValidationError as e:
        raise RequestValidationError(e.errors()) from None


async def _search(service: Service, body: SearchRequest, parts: list[QueryPart]) -> SearchResponse:
    n = len(parts) + (body.vector is not None)
    weights = _weights(body.weights, n)
    if weights is not None:
        parts = [
            QueryPart(p.modality, p.item, p.field, w) for p, w in zip(parts, weights, strict=False)
        ]
    page = await service.search(
        parts,
        vector=body.vector,
        vector_weight=weights[-1] if weights is not None and body.vector is not None else 1.0,
        k=body.k,
        offset=body.offset,
        modality=body.modality or None,
        filter=body.filter,
    )
    return SearchResponse(
        model=service.model_id,
        hits=page.hits,
        total=page.total,
        offset=page.offset,
        k=body.k,
        generation=page.generation,
    )


def _embedding_inputs(texts: list[str], modality: str | None) -> tuple[Modality, list[Any]]:
    """The modality and items of an embeddings request; `data:` URIs imply their modality.

    Raises:
        InputError: an empty text, bad base64, a `data:` URI that contradicts `modality`, or
            inputs of several modalities in one request.
    """
    said = _parse_modality(modality) if modality else None
    found: Modality | None = said
    items: list[Any] = []
    for i, t in enumerate(texts):
        field = f"input[{i}]"
        if t.lstrip().startswith("data:"):
            data, mime = decode_base64(t, field)
            if said is not None:
                check_implied(mime, said, field)
                m = said
            else:
                m = implied_modality(mime, data) or Modality.TEXT
            item: Any = data.decode("utf-8", errors="replace") if m is Modality.TEXT else data
        elif said is None or said is Modality.TEXT:
            m, item = Modality.TEXT, t
        else:
            m, item = said, decode_base64(t, field)[0]
        if m is Modality.TEXT and (not item or str(item).isspace()):  # strip() would copy
            raise InputError(field, "is empty")
        if found is not None and m is not found:
            raise InputError(
                field, f"is {m.value} but input[0] is {found.value}: one modality per request"
            )
        found = m
        items.append(item)
    return found or Modality.TEXT, items


def _weights(text: str | list[float] | None, n: int) -> list[float] | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, str):
        try:
            values = [float(w) for w in text.replace(" ", "").split(",")]
        except ValueError:
            raise InputError("weights", f"must be comma-separated numbers, got {text!r}") from None
    else:
        values = [float(w) for w in text]
    if len(values) != n:
        raise InputError(
            "weights",
            f"has {len(values)} numbers for {n} query parts (text first, then media, then vector)",
        )
    return values


def _form_text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return None if value is None or isinstance(value, UploadFile) else str(value)


def _form_vector(value: str | None) -> list[float] | None:
    if value is None or not value.strip():
        return None
    try:
        numbers = json.loads(value) if value.strip().startswith("[") else value.split(",")
        return [float(x) for x in numbers]
    except (ValueError, TypeError):
        raise InputError("vector", "must be numbers separated by commas, or a JSON list") from None


def _is_json_object(filters: list[str]) -> bool:
    if len(filters) != 1 or not filters[0].lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(filters[0]), dict)
    except json.JSONDecodeError:
        raise InputError("filter", "is not a valid JSON object") from None


def _parse_modality(value: str) -> Modality:
    try:
        return Modality.parse(value)
    except BadInput as e:
        raise InputError("modality", str(e)) from None


def _encode_vector(v: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
    return v.astype(float).tolist()


def _split_labels(labels: str | list[str] | None) -> list[str]:
    if labels is None:
        return []
    if isinstance(labels, list):
        return [str(x).strip() for x in labels if str(x).strip()]
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
