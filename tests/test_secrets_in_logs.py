"""No secret reaches a log line: the typical flows (logins right and wrong, password change, API
tokens, bots and their tokens, a webhook and its deliveries, a revoked token) run against a server,
then every line it and the command line wrote is searched for every secret they handled."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from protocol.values import Role
from tests.conftest import new_id, own_chatd
from tests.receiver import Receiver
from tests.support import WsClient, new_firm, seeder
from tests.test_cli import chatd

PASSWORD = "Tr0ub4dor&3-horse-battery"
NEW_PASSWORD = "another-long-passphrase-42"
WRONG_PASSWORD = "hunter2-wrong-guess-99"


async def test_no_token_or_password_in_any_log_line(tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.start()
    secrets: set[str] = {PASSWORD, NEW_PASSWORD, WRONG_PASSWORD}
    env = {"CHATD_WEBHOOK_ALLOW_PRIVATE": "1", "CHATD_WEBHOOK_RETRY_BASE_S": "1"}
    try:
        async with own_chatd(tmp_path, env) as (server, _):
            async with seeder(server.data_dir, server.env) as services:
                firm = await new_firm(services, "Secrets firm")
                owner = await firm.user(Role.OWNER, password=PASSWORD)
                client = await firm.user(Role.CLIENT, password=PASSWORD)
            made = chatd(server.data_dir, "create-token", "--user", str(owner.id), "--json", env=server.env)
            cli_token = json.loads(made.stdout.strip().splitlines()[-1])["token"]
            secrets.add(cli_token)
            cli_log = made.stderr
            async with httpx.AsyncClient(base_url=server.base_url, headers={"Origin": server.base_url}) as http:
                # Logins: wrong, unknown, right; a password change; a logout.
                await http.post("/api/login", json={"email": owner.email, "password": WRONG_PASSWORD})
                await http.post("/api/login", json={"email": "nobody@example.test", "password": WRONG_PASSWORD})
                assert (await http.post("/api/login", json={"email": owner.email, "password": PASSWORD})).is_success
                secrets.add(http.cookies["chatd_session"])
                changed = await http.post(
                    "/api/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
                )
                assert changed.status_code == 204
                secrets.add(http.cookies["chatd_session"])
                assert (await http.post("/api/logout")).status_code == 204
                # API tokens, a bot with a token and a webhook.
                bearer = {"Authorization": f"Bearer {cli_token}"}
                token = (await http.post("/api/tokens", headers=bearer, json={"label": "mine"})).json()
                secrets.add(token["token"])
                bot = (await http.post("/api/bots", headers=bearer, json={"name": "Hook bot"})).json()["bot"]
                bot_token = (await http.post(f"/api/bots/{bot['id']}/tokens", headers=bearer, json={})).json()
                secrets.add(bot_token["token"])
                hook = await http.put(f"/api/bots/{bot['id']}/webhook", headers=bearer, json={"url": receiver.url})
                secrets.add(hook.json()["webhook"]["secret"])
                staff = await WsClient.connect(server.ws_url, token["token"])
                opened = await staff.ok(
                    "thread.create",
                    subject="Secrets",
                    body="hello",
                    client_msg_id=new_id(),
                    client_account_id=client.client_account_id,
                )
                joined = await http.post(
                    f"/api/bots/{bot['id']}/threads", headers=bearer, json={"thread_id": opened["thread"]["id"]}
                )
                assert joined.is_success
                bot_socket = await WsClient.connect(server.ws_url, bot_token["token"])
                await staff.ok("send", thread_id=opened["thread"]["id"], body="for the bot", client_msg_id=new_id())
                receiver.wait_for(1)
                await bot_socket.ok("ping")
                # Refused credentials: a revoked token, a made-up one.
                assert (await http.delete(f"/api/tokens/{token['id']}", headers=bearer)).status_code == 204
                refused = await http.get("/api/me", headers={"Authorization": f"Bearer {token['token']}"})
                assert refused.status_code == 401
                made_up = "chatd_" + "x" * 43
                secrets.add(made_up)
                await http.get("/api/me", headers={"Authorization": f"Bearer {made_up}"})
                await staff.close()
                await bot_socket.close()
        logs = server.log() + cli_log
    finally:
        receiver.stop()
    lines = logs.splitlines()
    assert len(lines) > 20  # the flows did log: the search below searched something
    leaks = [(secret, line) for line in lines for secret in secrets if secret in line]
    assert leaks == []
