"""The Models routes: ``GET /v1/models`` (paged) and ``GET /v1/models/{model_id}``, answered
from the server's model catalogue through the one lifecycle."""

from __future__ import annotations

from typing import Any

from mockserver.web.lifecycle import Exchange
from mockserver.web.payload import payload_route
from mockserver.wire.errors import not_found
from mockserver.wire.paging import page


async def _models_list(exchange: Exchange, raw: bytes) -> Any:
    infos = [m.info() for m in exchange.state.config.catalogue.models]
    return page(infos, lambda i: str(i["id"]), exchange.request.query)


async def _models_get(exchange: Exchange, raw: bytes) -> Any:
    model_id = exchange.request.match_info["model_id"]
    model = exchange.state.config.catalogue.get(model_id)
    if model is None:
        raise not_found(f"model: {model_id}")
    exchange.entry.model = model_id
    return model.info()


handle_models_list = payload_route("models", _models_list)
handle_models_get = payload_route("models", _models_get)
