"""``chatd demo``, the README's first command: a demo firm whose printed logins work."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import ROOT, WsClient, chatd_env, free_port, wait_for_port

LOGIN = re.compile(r"^\s+(owner|staff|client)\s+.+?\s(\S+@\S+)\s+password: (\S+)$")


def _run_demo(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], dict[str, tuple[str, str]]]:
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "chatd", "demo", "--port", str(port)],
        env=chatd_env(data_dir),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    logins: dict[str, tuple[str, str]] = {}
    for line in process.stdout:
        found = LOGIN.match(line.rstrip())
        if found:
            logins[found.group(2)] = (found.group(1), found.group(3))
        if line.startswith("Passwords are new"):
            break
    wait_for_port(port)
    return process, logins


async def test_demo_prints_logins_that_work_and_serves(tmp_path: Path) -> None:
    port = free_port()
    process, logins = _run_demo(tmp_path, port)
    try:
        assert sorted(role for role, _ in logins.values()) == ["client", "client", "owner", "staff"]
        base = f"http://127.0.0.1:{port}"
        client_email = next(email for email, (role, _) in logins.items() if email.startswith("claire"))
        async with httpx.AsyncClient(base_url=base) as http:
            login = await http.post("/api/login", json={"email": client_email, "password": logins[client_email][1]})
            assert login.status_code == 200
            cookie = f"chatd_session={login.cookies['chatd_session']}"
        client = await WsClient.connect(f"ws://127.0.0.1:{port}/ws", headers={"Cookie": cookie, "Origin": base})
        threads = (await client.ok("threads"))["threads"]
        assert [t["subject"] for t in threads] == ["Welcome to your client space"]
        assert threads[0]["unread"] == 1
        await client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)

    again, second = _run_demo(tmp_path, port)
    try:
        assert set(second) == set(logins)
        assert all(second[email][1] != logins[email][1] for email in logins)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            old = await http.post("/api/login", json={"email": client_email, "password": logins[client_email][1]})
            new = await http.post("/api/login", json={"email": client_email, "password": second[client_email][1]})
            assert old.status_code == 401
            assert new.status_code == 200
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(30)
