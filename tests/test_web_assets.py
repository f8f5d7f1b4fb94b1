"""How chatd serves the web client: caching by content version and a strict Content-Security-Policy."""

from __future__ import annotations

import re

from tests.support import ChatdProcess, http


async def test_index_is_revalidated_and_names_versioned_assets(server: ChatdProcess) -> None:
    async with await http(server.base_url) as client:
        index = await client.get("/")
    assert index.status_code == 200
    assert index.headers["cache-control"] == "no-cache"
    assert index.headers["content-type"].startswith("text/html")
    scripts = re.findall(r'src="(/assets/[0-9a-f]{12}/main\.js)"', index.text)
    assert len(scripts) == 1
    assert "%ASSETS%" not in index.text


async def test_assets_are_immutable_under_their_version(server: ChatdProcess) -> None:
    async with await http(server.base_url) as client:
        script = re.search(r'src="(/assets/[0-9a-f]{12})/main\.js"', (await client.get("/")).text)
        assert script is not None
        current = await client.get(f"{script.group(1)}/app.js")
        stale = await client.get("/assets/000000000000/app.js")
        missing = await client.get(f"{script.group(1)}/nope.js")
        escape = await client.get(f"{script.group(1)}/../../pyproject.toml")
    assert current.status_code == 200
    assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert current.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert escape.status_code == 404


async def test_pages_carry_a_strict_content_security_policy(server: ChatdProcess) -> None:
    async with await http(server.base_url) as client:
        index = await client.get("/")
    policy = dict(part.strip().split(" ", 1) for part in index.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no inline scripts, no eval
    assert policy["style-src"] == "'self'"  # no inline styles
    assert policy["connect-src"].split() == [
        "'self'",
        f"ws://127.0.0.1:{server.port}",
        f"wss://127.0.0.1:{server.port}",
    ]
    assert policy["frame-ancestors"] == "'none'"
    assert index.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in index.text
    assert "style=" not in index.text


async def test_unknown_paths_outside_the_assets_are_json_404s(server: ChatdProcess) -> None:
    async with await http(server.base_url) as client:
        found = await client.get("/app.js")
    assert found.status_code == 404
    assert found.json()["error"]["code"] == "not_found"
