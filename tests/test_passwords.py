"""Passwords and the limits around them: argon2id at or above OWASP's minimum, rehashed on login
when the parameters change, unknown users and wrong passwords answered alike, password guessing
slowed per address, and a user's request budget shared by all their sockets."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import httpx
from argon2 import PasswordHasher
from argon2.low_level import Type

from chatd.services.context import Services
from protocol.values import Role
from storage import directory as store
from tests.conftest import Cast, Connect, own_chatd
from tests.support import ChatdProcess, new_firm, seeder

PASSWORD = "correct horse battery"
# OWASP Password Storage Cheat Sheet: argon2id with 19 MiB of memory and 2 iterations at least.
OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2


def _parameters(password_hash: str) -> dict[str, int]:
    """m, t and p of an argon2 hash string: $argon2id$v=19$m=65536,t=3,p=4$salt$hash."""
    fields = password_hash.split("$")[3]
    return {name: int(value) for name, value in (part.split("=") for part in fields.split(","))}


async def _stored_hash(services: Services, email: str) -> str:
    async with services.db.read() as conn:
        found = await store.find_account_by_email(conn, email)
    assert found is not None
    assert found.password_hash is not None
    return found.password_hash


async def test_passwords_are_argon2id_above_owasps_minimum_and_rehashed_on_login(
    services: Services, server: ChatdProcess
) -> None:
    firm = await new_firm(services, "Hash firm")
    user = await firm.user(Role.STAFF, password=PASSWORD)
    stored = await _stored_hash(services, user.email)
    assert stored.startswith("$argon2id$")
    parameters = _parameters(stored)
    assert parameters["m"] >= OWASP_MEMORY_KIB
    assert parameters["t"] >= OWASP_TIME_COST

    # A hash made with older, weaker parameters is replaced at the next successful login.
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID).hash(PASSWORD)
    async with services.db.write() as conn:
        await store.set_password_hash(conn, user.id, weak)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        wrong = await http.post("/api/login", json={"email": user.email, "password": "not the password"})
        assert wrong.status_code == 401
        assert await _stored_hash(services, user.email) == weak  # a failed login changes nothing
        right = await http.post("/api/login", json={"email": user.email, "password": PASSWORD})
        assert right.status_code == 200
    rehashed = await _stored_hash(services, user.email)
    assert rehashed != weak
    assert _parameters(rehashed) == parameters
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        again = await http.post("/api/login", json={"email": user.email, "password": PASSWORD})
        assert again.status_code == 200


async def test_unknown_users_and_wrong_passwords_are_answered_alike(services: Services, server: ChatdProcess) -> None:
    firm = await new_firm(services, "Alike firm")
    user = await firm.user(Role.CLIENT, password=PASSWORD)
    gone = await firm.user(Role.CLIENT, password=PASSWORD)
    await services.team.set_active(gone.id, False)
    attempts = {
        "wrong password": {"email": user.email, "password": "not the password"},
        "unknown user": {"email": "nobody-at-all@example.test", "password": "not the password"},
        "deactivated user": {"email": gone.email, "password": PASSWORD},
    }
    timings: dict[str, list[float]] = {name: [] for name in attempts}
    answers: dict[str, set[tuple[int, bytes]]] = {name: set() for name in attempts}
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for _ in range(5):
            for name, credentials in attempts.items():
                started = time.perf_counter()
                answer = await http.post("/api/login", json=credentials)
                timings[name].append(time.perf_counter() - started)
                answers[name].add((answer.status_code, answer.content))
    assert len({frozenset(a) for a in answers.values()}) == 1, answers
    assert next(iter(answers["unknown user"]))[0] == 401
    # The unknown email is checked against a decoy hash: it costs what a real check costs. Loose
    # bounds (a shared machine is noisy); skipping the hash would be ten times faster.
    medians = {name: statistics.median(found) for name, found in timings.items()}
    assert medians["unknown user"] > 0.4 * medians["wrong password"], medians


async def test_password_guessing_is_slowed_per_address(tmp_path: Path) -> None:
    async with own_chatd(tmp_path, {"CHATD_LOGIN_ATTEMPTS_PER_MINUTE": "5"}) as (server, _):
        async with seeder(tmp_path, server.env) as services:
            user = await (await new_firm(services)).user(Role.STAFF, password=PASSWORD)
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            statuses = []
            for n in range(8):
                answer = await http.post("/api/login", json={"email": user.email, "password": f"guess {n}"})
                statuses.append(answer.status_code)
            assert statuses[:5] == [401] * 5
            assert 429 in statuses[5:]
            limited = answer.json()["error"]
            assert limited["code"] == "rate_limited"
            assert limited["retry_after"] > 0
            # While limited, even the right password is not tried.
            right = await http.post("/api/login", json={"email": user.email, "password": PASSWORD})
            assert right.status_code == 429
            await asyncio.sleep(right.json()["error"]["retry_after"])
            assert (await http.post("/api/login", json={"email": user.email, "password": PASSWORD})).status_code == 200


async def test_ten_sockets_share_one_request_budget(cast: Cast, connect: Connect) -> None:
    sockets = [await connect(cast.token(cast.staff2)) for _ in range(10)]
    await asyncio.sleep(1.1)  # a full budget (the hellos took nothing, the bucket refills)
    for n, client in enumerate(sockets):
        for k in range(10):
            await client.conn.send(client.encode({"op": "ping", "id": 10_000 + 100 * n + k}))
    answers = [
        await client.next_frame(lambda f, i=10_000 + 100 * n + k: f.get("id") == i)
        for n, client in enumerate(sockets)
        for k in range(10)
    ]
    granted = [a for a in answers if a["op"] == "ok"]
    limited = [a for a in answers if a["op"] == "error"]
    assert all(a["code"] == "rate_limited" and a["retry_after"] > 0 for a in limited)
    # 100 requests at once against 20 a second: one budget (20, plus what refills meanwhile), not ten.
    assert 20 <= len(granted) <= 40, len(granted)
