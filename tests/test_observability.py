"""What operators watch: /metrics (Prometheus), /readyz (database and Redis reachable), and log
lines that name their session and request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Cast, make_cast, new_id, open_thread
from tests.support import ChatdProcess, RedisServer, WsClient, postgres_cluster, seeder


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[ChatdProcess]:
    """A chatd on Redis, so /readyz has both parts to check."""
    process = ChatdProcess(tmp_path_factory.mktemp("watched"), env={"CHATD_REDIS_URL": redis_server.url})
    process.start()
    yield process
    process.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def watched_cast(watched: ChatdProcess) -> AsyncIterator[Cast]:
    async with seeder(watched.data_dir, watched.env) as services:
        yield await make_cast(services)


async def _metrics(process: ChatdProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{process.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_metrics_count_connections_events_fan_out_and_commits(watched: ChatdProcess, watched_cast: Cast) -> None:
    cast = watched_cast
    before = await _metrics(watched)
    staff = await WsClient.connect(watched.ws_url, cast.token(cast.staff))
    client = await WsClient.connect(watched.ws_url, cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    await client.ok("send", thread_id=thread_id, body="counted", client_msg_id=new_id())
    await staff.event("message.created", message__body="counted")

    after = await _metrics(watched)
    created = (("type", "message.created"),)
    assert after[("chatd_connections", ())] == before[("chatd_connections", ())] + 2
    assert after[("chatd_events_in_total", created)] - before.get(("chatd_events_in_total", created), 0) == 2
    # Each message goes to the other participant (the author's own sessions get it too: 2 + 2).
    assert after[("chatd_events_out_total", created)] - before.get(("chatd_events_out_total", created), 0) == 4
    assert after[("chatd_fanout_seconds_count", ())] > before[("chatd_fanout_seconds_count", ())]
    # thread.create and send: at least two commits
    assert after[("chatd_commit_seconds_count", ())] >= before[("chatd_commit_seconds_count", ())] + 2
    assert ("chatd_scheduler_lag_seconds", ()) in after
    assert ("chatd_bus_reconnects_total", ()) in after

    await asyncio.gather(staff.close(), client.close())
    await asyncio.sleep(0.2)
    assert (await _metrics(watched))[("chatd_connections", ())] == before[("chatd_connections", ())]


async def test_readyz_reports_redis_down_and_bus_reconnects(watched: ChatdProcess, redis_server: RedisServer) -> None:
    async with httpx.AsyncClient(base_url=watched.base_url, timeout=10) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
        reconnects = (await _metrics(watched))[("chatd_bus_reconnects_total", ())]

        redis_server.stop()
        down = await http.get("/readyz")
        assert down.status_code == 503
        body = down.json()
        assert body["error"]["code"] == "unavailable"
        assert body["error"]["checks"]["database"] == "ok"
        assert body["error"]["checks"]["redis"].startswith("unreachable")

        redis_server.start()
        for _ in range(100):
            if (await http.get("/readyz")).status_code == 200 and (await _metrics(watched))[
                ("chatd_bus_reconnects_total", ())
            ] > reconnects:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("chatd did not become ready, or its bus did not resubscribe, after Redis came back")


async def test_readyz_reports_the_database_down(tmp_path: Path) -> None:
    """On PostgreSQL (whatever the suite's database), a database that refuses connections."""
    cluster = postgres_cluster()
    env = {"CHATD_DATABASE_URL": cluster.database("readiness")}
    process = ChatdProcess(tmp_path, env=env)
    process.start()
    try:
        async with httpx.AsyncClient(base_url=process.base_url, timeout=10) as http:
            assert (await http.get("/readyz")).status_code == 200
            cluster.sql("ALTER DATABASE readiness ALLOW_CONNECTIONS false")
            cluster.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'readiness'")
            down = await http.get("/readyz")
            assert down.status_code == 503
            assert down.json()["error"]["checks"] == {"database": down.json()["error"]["checks"]["database"]}
            assert down.json()["error"]["checks"]["database"].startswith("unreachable")
            cluster.sql("ALTER DATABASE readiness ALLOW_CONNECTIONS true")
            assert (await http.get("/readyz")).status_code == 200
    finally:
        process.stop()


async def test_log_lines_name_their_request_and_session(watched: ChatdProcess, watched_cast: Cast) -> None:
    async with httpx.AsyncClient(base_url=watched.base_url) as http:
        given = await http.get("/healthz", headers={"X-Request-ID": "probe-1234"})
        assert given.headers["x-request-id"] == "probe-1234"
        made = await http.get("/healthz", headers={"X-Request-ID": "not a usable id"})
        assert made.headers["x-request-id"] not in ("", "not a usable id")

    client = await WsClient.connect(watched.ws_url, watched_cast.token(watched_cast.client))
    answer = await client.call("send", thread_id=999_999, body="to nowhere", client_msg_id=new_id())
    assert answer["op"] == "error"
    await client.close()
    await asyncio.sleep(0.2)

    log = watched.log().splitlines()
    assert any("request=probe-1234" in line and "GET /healthz 200" in line for line in log)
    assert any(f"request={made.headers['x-request-id']}" in line for line in log)
    opened = [line for line in log if "opened for user" in line and f"user {watched_cast.client.id} " in line][-1]
    session_id = opened.split(" session=")[1].split()[0].rstrip(":")
    assert any(
        f"session={session_id} request={answer['id']}:" in line and "send answered not_found" in line for line in log
    )
