"""/v1/models: the model catalog, as OpenAI lists models."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from chatapp.api.auth import api_admit
from chatapp.api.edge import api_endpoint
from chatapp.api.errors import api_error, api_rate_limited
from latency.providers.catalog import catalog_load


def _model(name: str, tier: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": 0, "owned_by": tier}


@api_endpoint(methods=("GET",))
async def models_list(request: HttpRequest) -> HttpResponse:
    state = await api_admit(request=request, tokens=0)
    if not state.admitted:
        return api_rate_limited(state=state)
    data = [_model(name, spec.tier) for name, spec in catalog_load().models.items()]
    return JsonResponse({"object": "list", "data": data})


@api_endpoint(methods=("GET",))
async def model_detail(request: HttpRequest, model_id: str) -> HttpResponse:
    state = await api_admit(request=request, tokens=0)
    if not state.admitted:
        return api_rate_limited(state=state)
    spec = catalog_load().models.get(model_id)
    if spec is None:
        return api_error(status=404, code="model_not_found", param="model",
                         message=f"The model `{model_id}` does not exist.")  # fmt: skip
    return JsonResponse(_model(model_id, spec.tier))
