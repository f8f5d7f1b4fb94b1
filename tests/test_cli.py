"""The ``chatd`` command as an operator uses it: migrate, create-firm, create-user, create-token."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support import ROOT, ChatdProcess, WsClient, chatd_env


def chatd(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatd", *args],
        env=chatd_env(data_dir, env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def chatd_json(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = chatd(data_dir, *args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def test_an_operator_sets_up_a_firm_from_the_command_line(tmp_path: Path) -> None:
    migrated = chatd(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    firm = chatd_json(tmp_path, "create-firm", "--name", "Cabinet Leroy")
    assert firm["id"] >= 1
    assert firm["name"] == "Cabinet Leroy"
    owner = chatd_json(
        tmp_path,
        "create-user",
        "--firm",
        str(firm["id"]),
        "--email",
        "Anne@Leroy.test",
        "--name",
        "Anne",
        "--role",
        "owner",
        "--password",
        "long enough pass",
    )
    assert owner["email"] == "anne@leroy.test"
    assert owner["role"] == "owner"
    client = chatd_json(
        tmp_path,
        "create-user",
        "--firm",
        str(firm["id"]),
        "--email",
        "c@x.test",
        "--name",
        "Chloé",
        "--role",
        "client",
        "--password",
        "long enough pass",
    )
    assert client["client_account_id"] is not None
    spouse = chatd_json(
        tmp_path,
        "create-user",
        "--firm",
        str(firm["id"]),
        "--email",
        "s@x.test",
        "--name",
        "Sam",
        "--role",
        "client",
        "--client-account",
        str(client["client_account_id"]),
    )
    assert spouse["client_account_id"] == client["client_account_id"]
    bot = chatd_json(
        tmp_path, "create-user", "--firm", str(firm["id"]), "--email", "bot@x.test", "--name", "FAQ", "--role", "bot"
    )
    token = chatd_json(tmp_path, "create-token", "--user", str(bot["id"]))
    assert token["token"].startswith("chatd_")
    assert token["user_id"] == bot["id"]

    duplicate = chatd(
        tmp_path, "create-user", "--firm", str(firm["id"]), "--email", "c@x.test", "--name", "Again", "--role", "staff"
    )
    assert duplicate.returncode == 2
    assert "exists" in duplicate.stderr
    no_firm = chatd(tmp_path, "create-user", "--firm", "999", "--email", "z@x.test", "--name", "Z", "--role", "staff")
    assert no_firm.returncode == 2
    assert "not found" in no_firm.stderr

    server = ChatdProcess(tmp_path)
    server.start()
    try:
        bot_client = await WsClient.connect(server.ws_url, token["token"])
        assert bot_client.hello["user"]["id"] == bot["id"]
        await bot_client.close()
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            login = await http.post("/api/login", json={"email": "anne@leroy.test", "password": "long enough pass"})
            assert login.status_code == 200
        revoked = chatd_json(tmp_path, "revoke-token", "--id", str(token["id"]))
        assert revoked["revoked"] is True
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            assert (await http.get("/api/me", headers={"Authorization": f"Bearer {token['token']}"})).status_code == 401
    finally:
        server.stop()
