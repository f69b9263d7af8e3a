"""The mock as an aiohttp application: ``create_app`` and the route table, nothing else.

All per-server state lives in one :class:`~mockserver.web.state.MockState` stored on the app
(``app[STATE]``); every API route is work for the one request lifecycle
(:mod:`mockserver.web.lifecycle`), the control plane has its own guard (:mod:`mockserver.web.control`).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from mockserver.config import ServerConfig
from mockserver.faults import FaultEngine, build_engine
from mockserver.web import (
    agents,
    batches,
    complete,
    compliance,
    control,
    deployments,
    dreams,
    environments,
    files,
    memory_stores,
    messages,
    models,
    sessions,
    skills,
    tunnels,
    user_profiles,
    vaults,
)
from mockserver.web.control_head import journal_head
from mockserver.web.lifecycle import Route, handle_not_found
from mockserver.web.state import STATE, MockState, Spec
from mockserver.wire import paths

RouteTable = Sequence[tuple[str, str, Route]]  # (method, path pattern, route), one family's routes

# The resource families beyond Messages, each a table in its own web/ module (one line each here).
FAMILIES: tuple[RouteTable, ...] = (
    agents.ROUTES,
    complete.ROUTES,
    compliance.ROUTES,
    deployments.ROUTES,
    dreams.ROUTES,
    environments.ROUTES,
    files.ROUTES,
    memory_stores.ROUTES,
    sessions.ROUTES,
    skills.ROUTES,
    tunnels.ROUTES,
    user_profiles.ROUTES,
    vaults.ROUTES,
)


def _add_family(router: web.UrlDispatcher, state: MockState, table: RouteTable) -> None:
    for method, path, route in table:
        if method == "GET":
            router.add_get(path, route(state), allow_head=True)
        else:
            router.add_route(method, path, route(state))


def create_app(
    config: ServerConfig | None = None,
    *,
    scenario: Spec = None,
    engine: FaultEngine | None = None,
) -> web.Application:
    """The mock as an aiohttp app. Give either ``scenario`` (for ``build_engine``) or ``engine``."""
    config = config or ServerConfig()
    if engine is not None and scenario is not None:
        raise ValueError("give either scenario= or engine=, not both")
    if engine is None:
        engine = build_engine(scenario, seed=config.seed)
    state = MockState(config, engine, scenario)
    app = web.Application(client_max_size=max(config.max_batch_body_bytes, config.max_body_bytes) + 1)
    app[STATE] = state

    async def on_startup(app: web.Application) -> None:
        state.restart_engine()

    app.on_startup.append(on_startup)
    r = app.router
    r.add_post(paths.MESSAGES, messages.handle_messages(state))
    r.add_post(paths.COUNT_TOKENS, messages.handle_count_tokens(state))
    r.add_get(paths.MODELS, models.handle_models_list(state), allow_head=True)
    r.add_get(paths.MODEL, models.handle_models_get(state), allow_head=True)
    r.add_post(paths.BATCHES, batches.handle_batch_create(state))
    r.add_get(paths.BATCHES, batches.handle_batch_list(state), allow_head=True)
    r.add_get(paths.BATCH, batches.handle_batch_get(state), allow_head=True)
    r.add_post(paths.BATCH_CANCEL, batches.handle_batch_cancel(state))
    r.add_delete(paths.BATCH, batches.handle_batch_delete(state))
    r.add_get(paths.BATCH_RESULTS, batches.handle_batch_results(state), allow_head=True)
    for family in FAMILIES:
        _add_family(r, state, family)
    r.add_get(paths.CONTROL_HEALTH, control.control(control.control_health), allow_head=True)
    r.add_get(paths.CONTROL_JOURNAL, control.control(control.control_journal), allow_head=False)
    r.add_route("HEAD", paths.CONTROL_JOURNAL, control.control(journal_head(control.journal_filter)))
    r.add_delete(paths.CONTROL_JOURNAL, control.control(control.control_journal_clear))
    r.add_get(paths.CONTROL_STATS, control.control(control.control_stats), allow_head=True)
    r.add_post(paths.CONTROL_RESET, control.control(control.control_reset))
    r.add_get(paths.CONTROL_SCENARIO, control.control(control.control_scenario_get), allow_head=True)
    r.add_put(paths.CONTROL_SCENARIO, control.control(control.control_scenario_put))
    r.add_get(paths.METRICS, control.control(control.control_metrics), allow_head=True)
    r.add_route("*", "/{tail:.*}", handle_not_found(state))
    return app
