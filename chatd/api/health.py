"""Probes and metrics for operators: ``/healthz`` (the process answers), ``/readyz`` (it can
reach its database and Redis) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd import metrics
from chatd.api.common import error_response, json, services

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    return json({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when the database and Redis (if configured) answer within 2 s; else 503 naming which."""
    svc = services(request)
    checks: dict[str, Callable[[], Awaitable[None]]] = {"database": svc.db.ping}
    if svc.settings.redis_url:
        checks["redis"] = svc.broker.ping
    outcomes = await asyncio.gather(*(_check(name, probe) for name, probe in checks.items()))
    results = dict(zip(checks, outcomes, strict=True))
    failed = [name for name, outcome in results.items() if outcome != "ok"]
    if failed:
        return error_response("unavailable", f"unreachable: {', '.join(failed)}", 503, checks=results)
    return json({"status": "ready", "checks": results})


async def _check(name: str, probe: Callable[[], Awaitable[None]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe()
    except Exception as exc:
        logger.warning("readiness: %s unreachable (%s)", name, type(exc).__name__)
        return f"unreachable ({type(exc).__name__})"
    return "ok"


async def prometheus(request: Request) -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", prometheus)]
