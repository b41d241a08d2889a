"""Queries sent to a running `openbind serve` (the CLI's `--server URL`), with the standard library.

No model, torch or faiss is loaded: the query's files travel as `data:` URIs in the JSON body of
`POST /search`, and the server's error (always `{"error": {"message", "param", ...}}`) becomes a
`BadInput` naming the field, or a `ServerError` when the server cannot be reached or fails.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from openbind.errors import BadInput, OpenbindError

API_KEY_ENV = "OPENBIND_API_KEY"
TIMEOUT = 60.0


class ServerError(OpenbindError):
    """A server could not be reached or answered with a server-side error."""


def remote_search(
    url: str,
    args: argparse.Namespace,
    parts: list[tuple[Any, Any]],
    weights: list[float],
    vector: Any,
    where: Any,
) -> dict[str, Any]:
    """`POST {url}/search` with the parts, weights, vector and filter; the response as a dict."""
    body: dict[str, Any] = {"k": args.k, "offset": args.offset}
    media, modalities = [], set()
    for modality, value in parts:
        if modality.value == "text":
            body["text"] = value
        else:
            data = base64.b64encode(Path(value).read_bytes()).decode("ascii")
            media.append(f"data:application/octet-stream;base64,{data}")
            modalities.add(modality.value)
    if media:
        body["media"] = media
        if len(modalities) == 1:
            body["media_modality"] = modalities.pop()
    if vector is not None:
        body["vector"] = [float(x) for x in vector]
    if args.weight is not None:
        body["weights"] = weights
    if args.modality:
        body["modality"] = args.modality
    if where:
        body["filter"] = where.to_dict()
    result = post_json(url.rstrip("/") + "/search", body, args.api_key)
    result["server"] = url
    return result


def post_json(url: str, body: dict[str, Any], api_key: str | None = None) -> dict[str, Any]:
    """POST `body` as JSON and return the JSON answer.

    Raises:
        BadInput: the server refused a field (4xx); the message is the server's.
        ServerError: no connection, or a 5xx answer.
    """
    headers = {"Content-Type": "application/json"}
    key = api_key or os.environ.get(API_KEY_ENV)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        try:
            error = json.loads(e.read())["error"]
        except (ValueError, KeyError, TypeError):
            error = {"message": f"HTTP {e.code}", "param": None}
        if e.code >= 500:
            raise ServerError(f"{url}: {error.get('message')}") from None
        raise BadInput(f"the server refused the query: {error.get('message')}") from None
    except (urllib.error.URLError, OSError) as e:
        raise ServerError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from None
