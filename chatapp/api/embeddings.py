"""/v1/embeddings: OpenAI's request and response, through the app's embedding service."""

from __future__ import annotations

import base64

import numpy as np
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from chatapp.api.auth import api_admit
from chatapp.api.edge import api_body_json, api_endpoint
from chatapp.api.errors import api_error, api_invalid, api_rate_limited
from chatapp.api.text import text_problem
from latency.embeddings.local import EMBEDDING_DIMENSIONS
from latency.gateway.embeddings import embeddings_batch, embeddings_model_name, embeddings_tokens


def _inputs(value: object) -> list[str] | HttpResponse:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        return api_invalid("`input` must be a string or a non-empty list of strings.",
                           param="input")  # fmt: skip
    if any(isinstance(t, int | list) and not isinstance(t, bool) for t in texts):
        return api_invalid("Token arrays are not supported as `input` here: send text.",
                           param="input")  # fmt: skip
    if not all(isinstance(t, str) for t in texts):
        return api_invalid("`input` must be a string or a list of strings.", param="input")
    if len(texts) > settings.API_EMBEDDINGS_MAX_INPUTS:
        return api_invalid(f"`input` may hold at most {settings.API_EMBEDDINGS_MAX_INPUTS} "
                           "texts.", param="input")  # fmt: skip
    limit = settings.API_EMBEDDINGS_MAX_INPUT_CHARS
    for index, text in enumerate(texts):
        if len(text) > limit:
            message = f"input[{index}] is longer than {limit} characters."
            return api_error(status=413, param="input", code="input_too_large", message=message)
        problem = text_problem(text=text, allow_empty=False)
        if problem:
            return api_invalid(f"input[{index}] {problem}", param="input")
    return texts


def _options(payload: dict[str, object]) -> HttpResponse | None:
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        return api_invalid("`model` must be a string.", param="model")
    if payload.get("encoding_format", "float") not in ("float", "base64"):
        return api_invalid("`encoding_format` must be float or base64.", param="encoding_format")
    dimensions = payload.get("dimensions")
    wrong = isinstance(dimensions, bool) or dimensions != EMBEDDING_DIMENSIONS
    if dimensions is not None and wrong:
        return api_invalid(f"`dimensions` can only be {EMBEDDING_DIMENSIONS} for this model.",
                           param="dimensions")  # fmt: skip
    return None


def _encoded(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()


@api_endpoint(methods=("POST",))
async def embeddings_create(request: HttpRequest) -> HttpResponse:
    payload = api_body_json(request=request)
    texts = _inputs(payload.get("input"))
    if isinstance(texts, HttpResponse):
        return texts
    refused = _options(payload)
    if refused is not None:
        return refused
    tokens = embeddings_tokens(texts=texts)
    state = await api_admit(request=request, tokens=tokens)
    if not state.admitted:
        return api_rate_limited(state=state)
    vectors = await embeddings_batch(texts=texts)
    encoding = str(payload.get("encoding_format", "float"))
    data = [{"object": "embedding", "index": index, "embedding": _encoded(vector, encoding)}
            for index, vector in enumerate(vectors)]  # fmt: skip
    return JsonResponse({"object": "list", "data": data, "model": embeddings_model_name(),
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})  # fmt: skip
