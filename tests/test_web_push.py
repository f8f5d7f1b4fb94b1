"""Web push: browsers register subscriptions, notifications on the push channel reach a push
service (a local recording server) VAPID-signed and encrypted for the subscription (the test
decrypts them with the subscription's private key), failures are retried and shown, and a
subscription the push service has forgotten (410) is removed."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from tests.conftest import Cast, Connect, chatd_server, open_thread
from tests.receiver import Receiver
from tests.support import ChatdProcess, api, deliveries
from tests.timing import TestClock


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Browser:
    """What a browser keeps of its push subscription: the private half stays with it."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls, push_service: Receiver, name: str) -> Browser:
        return cls(
            f"http://127.0.0.1:{push_service.port}/push/{name}", ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        )

    def subscription(self) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
        }

    def read(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        found: dict[str, Any] = json.loads(plain)
        return found


server = chatd_server(env={"CHATD_PUSH_ALLOW_PRIVATE": "1", "CHATD_VAPID_SUBJECT": "mailto:ops@cabinet.test"})


@pytest.fixture(scope="module")
def push_service() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    yield receiver
    receiver.stop()


async def test_a_notification_reaches_the_browser_signed_and_encrypted_for_it(
    server: ChatdProcess, cast: Cast, connect: Connect, push_service: Receiver
) -> None:
    browser = Browser.new(push_service, "client-browser")
    async with httpx.AsyncClient(base_url=server.base_url) as anonymous:
        public_key = (await anonymous.get("/api/push/key")).json()["public_key"]
    async with api(server, cast.token(cast.client)) as http:
        registered = await http.post("/api/push/subscriptions", json=browser.subscription())
        assert registered.status_code == 201, registered.text
        assert [s["endpoint"] for s in (await http.get("/api/push/subscriptions")).json()["subscriptions"]] == [
            browser.endpoint
        ]
        settings = (await http.get("/api/notifications/settings")).json()["settings"]
        assert "push" in settings["channels"]["new_message"]

    seen = len(push_service.received)
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client, body="Your return is ready to sign."))["thread"]["id"]
    received = (await asyncio.to_thread(push_service.wait_for, seen + 1))[seen]
    assert received.path == "/push/client-browser"
    assert received.headers["content-encoding"] == "aes128gcm"
    assert int(received.headers["ttl"]) > 0
    authorization = received.headers["authorization"]
    assert Vapid.verify(authorization)  # the JWT is signed by the key the browser was given
    assert authorization.endswith(f"k={public_key}")
    assert b"Your return" not in received.body  # encrypted on the way
    shown = browser.read(received.body)
    assert shown["title"] == "New message"
    assert shown["body"] == f"{cast.staff.name}: Your return is ready to sign."
    assert shown["url"] == f"https://chat.cabinet.test/?thread={thread_id}"
    assert shown["thread_id"] == thread_id

    # Push off for new messages: nothing more is pushed.
    async with api(server, cast.token(cast.client)) as http:
        await http.patch("/api/notifications/settings", json={"channels": {"new_message": ["in_app"]}})
    await staff.ok("send", thread_id=thread_id, body="Page 3 too", client_msg_id=os.urandom(8).hex())
    await asyncio.sleep(1.5)
    assert len(push_service.received) == seen + 1


async def test_failed_pushes_are_retried_and_a_forgotten_subscription_is_removed(
    server: ChatdProcess, cast: Cast, connect: Connect, push_service: Receiver, clock: TestClock
) -> None:
    browser = Browser.new(push_service, "staff-browser")
    async with api(server, cast.token(cast.staff)) as http:
        assert (await http.post("/api/push/subscriptions", json=browser.subscription())).status_code == 201

    seen = len(push_service.received)
    push_service.fail_with(503, times=1)
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    client = await connect(cast.token(cast.client))
    await client.ok("send", thread_id=thread_id, body="Can we talk?", client_msg_id="q-1")
    await asyncio.to_thread(push_service.wait_for, seen + 1)  # refused
    for _ in range(50):
        pending = await deliveries(server, cast.token(cast.staff), "pending", "notify.push")
        if any("503" in (d["last_error"] or "") for d in pending):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the refused push is not shown as pending with its error")
    clock.advance(60)  # past the first backoff
    retried = (await asyncio.to_thread(push_service.wait_for, seen + 2))[seen + 1]
    assert browser.read(retried.body)["body"] == f"{cast.client.name}: Can we talk?"

    # The push service has forgotten the subscription: it is removed, the delivery failed and shown.
    push_service.fail_with(410, times=1)
    await client.ok("send", thread_id=thread_id, body="Hello?", client_msg_id="q-2")
    await asyncio.to_thread(push_service.wait_for, seen + 3)
    for _ in range(50):
        failed = await deliveries(server, cast.token(cast.staff), "failed", "notify.push")
        if any("410" in (d["last_error"] or "") for d in failed):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the 410 is not shown as a failed delivery")
    async with api(server, cast.token(cast.staff)) as http:
        assert (await http.get("/api/push/subscriptions")).json()["subscriptions"] == []
    await client.ok("send", thread_id=thread_id, body="Anyone?", client_msg_id="q-3")
    await asyncio.sleep(1.5)
    assert len(push_service.received) == seen + 3  # no subscription, nothing pushed


async def test_bad_subscriptions_are_refused_and_unsubscribing_is_per_user(
    server: ChatdProcess, cast: Cast, push_service: Receiver
) -> None:
    browser = Browser.new(push_service, "shared")
    good = browser.subscription()
    async with api(server, cast.token(cast.staff)) as http:
        for bad in (
            {**good, "endpoint": "not a url"},
            {**good, "keys": {**good["keys"], "p256dh": "AAAA"}},
            {**good, "keys": {**good["keys"], "auth": "short"}},
            {"endpoint": good["endpoint"]},
        ):
            answer = await http.post("/api/push/subscriptions", json=bad)
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json()["error"]["code"] == "bad_request"
        assert (await http.post("/api/push/subscriptions", json=good)).status_code == 201
    async with api(server, cast.token(cast.staff2)) as http:
        other = await http.request("DELETE", "/api/push/subscriptions", json={"endpoint": good["endpoint"]})
        assert other.json() == {"removed": False}  # not theirs
    async with api(server, cast.token(cast.staff)) as http:
        mine = await http.request("DELETE", "/api/push/subscriptions", json={"endpoint": good["endpoint"]})
        assert mine.json() == {"removed": True}
    async with httpx.AsyncClient(base_url=server.base_url) as anonymous:
        assert (await anonymous.post("/api/push/subscriptions", json=good)).status_code == 401


async def test_the_vapid_key_is_made_once_and_kept_across_restarts(server: ChatdProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        before = (await http.get("/api/push/key")).json()["public_key"]
    server.stop()
    server.start()
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/api/push/key")).json()["public_key"] == before
    assert len(base64.urlsafe_b64decode(before + "=")) == 65
