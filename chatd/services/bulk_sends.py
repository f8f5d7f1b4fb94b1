"""Bulk send: one message (its own text or a template) to many clients, a new thread for each, the
variables rendered for each client, sent by a background job.

The job works in batches: it opens each client's thread through ``Conversations.create_thread``
(so every rule, event and signature of a normal send applies), records the batch's results, tells
the requester how far it is (``bulk.progress``) and yields, so the server keeps answering everyone
else. It is idempotent twice over: a request retried with the same key finds the same job, and each
client's thread is created with the key ``bulk-<job>-<client>``, so a job resumed after a restart
(by retrying the request) opens no thread twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec

from chatd import errors, templating
from chatd.broker import Broker
from chatd.bus import BusEvent
from chatd.clock import Clock
from chatd.services.conversations import Conversations, check_may_write
from chatd.services.events import personal
from chatd.services.signatures import append
from chatd.services.templates import STAFF_ROLES, Templates
from protocol.values import BulkResult, BulkSend, MessageKind, Source, Template
from storage import Database, Duplicate
from storage import bulk_sends as store
from storage import templates as template_store
from storage.bulk_sends import StoredBulk
from storage.directory import Account

logger = logging.getLogger(__name__)

BATCH = 50
MAX_CLIENTS = 5000
PROGRESS = "bulk.progress"


class BulkRequest(msgspec.Struct, kw_only=True):
    """What to send, as stored with the job: the texts already taken from the template."""

    subject: str
    body: str
    # Every fill-in the texts may use (a template's fields not given are "").
    fields: dict[str, str]
    signature: bool
    client_account_ids: list[int]


class BulkSends:
    def __init__(
        self, db: Database, clock: Clock, broker: Broker, conversations: Conversations, templates: Templates
    ) -> None:
        self._db = db
        self._clock = clock
        self._broker = broker
        self._conversations = conversations
        self._templates = templates
        self._running: dict[int, asyncio.Task[None]] = {}

    async def start(
        self,
        account: Account,
        *,
        key: str,
        client_account_ids: list[int],
        subject: str,
        body: str,
        template_id: int | None,
        fields: dict[str, str],
        signature: bool,
    ) -> BulkSend:
        """Check the request and start the job; a retry with the same key answers the same job (and
        resumes it if it was interrupted)."""
        _check_staff(account)
        check_may_write(account)
        wanted = list(dict.fromkeys(client_account_ids))
        if not 1 <= len(wanted) <= MAX_CLIENTS:
            raise errors.BadRequest(f"give 1 to {MAX_CLIENTS} client accounts")
        async with self._db.read() as conn:
            existing = await store.find_by_key(conn, account.user.id, key)
            template = (
                await self._templates.template_for(conn, account, template_id)
                if existing is None and template_id is not None
                else None
            )
        if existing is not None:
            self._run_if_idle(account, existing)
            return existing.value
        request = _request(subject, body, template_id, template, fields, signature, wanted)
        async with self._db.write() as conn:
            try:
                stored = await store.insert_bulk(
                    conn,
                    firm_id=account.user.firm_id,
                    requester_id=account.user.id,
                    key=key,
                    request=msgspec.json.encode(request).decode(),
                    total=len(wanted),
                    now=self._clock.now(),
                )
            except Duplicate:
                stored = None
        if stored is None:  # the same key, sent twice at once: the other request made the job
            return await self._by_key(account, key)
        self._run_if_idle(account, stored)
        return stored.value

    async def get(self, account: Account, bulk_id: int) -> tuple[BulkSend, list[BulkResult]]:
        """A job of the caller's with its results so far."""
        async with self._db.read() as conn:
            found = await store.get_bulk(conn, bulk_id)
            if found is None or found.requester_id != account.user.id:
                raise errors.NotFound(f"bulk send {bulk_id} not found")
            return found.value, await store.results_of(conn, bulk_id)

    async def close(self) -> None:
        """Stop the jobs of this process (shutdown); a retry with their key resumes them."""
        for task in list(self._running.values()):
            task.cancel()
        for task in list(self._running.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _by_key(self, account: Account, key: str) -> BulkSend:
        async with self._db.read() as conn:
            found = await store.find_by_key(conn, account.user.id, key)
        assert found is not None
        return found.value

    def _run_if_idle(self, account: Account, stored: StoredBulk) -> None:
        bulk_id = stored.value.id
        if stored.value.state == "done" or bulk_id in self._running:
            return
        task = asyncio.create_task(self._run(account, stored))
        self._running[bulk_id] = task
        task.add_done_callback(lambda _: self._running.pop(bulk_id, None))

    async def _run(self, account: Account, stored: StoredBulk) -> None:
        bulk_id = stored.value.id
        request = msgspec.json.decode(stored.request, type=BulkRequest)
        try:
            # The same signature for every thread of the job, read once.
            signature = (
                await self._conversations.signatures.sign(account, "", MessageKind.MESSAGE, True)
                if request.signature
                else ""
            )
            async with self._db.read() as conn:
                handled = await store.handled_clients(conn, bulk_id)
            pending = [c for c in request.client_account_ids if c not in handled]
            for start in range(0, len(pending), BATCH):
                batch = pending[start : start + BATCH]
                results = await self._send_batch(account, bulk_id, request, signature, batch)
                async with self._db.write() as conn:
                    await store.record_results(conn, bulk_id, results, self._clock.now())
                    progress = await store.get_bulk(conn, bulk_id)
                assert progress is not None
                if progress.value.state != "done":
                    self._publish(account, progress.value, None)
            async with self._db.read() as conn:
                final = await store.get_bulk(conn, bulk_id)
                every = await store.results_of(conn, bulk_id)
            assert final is not None
            self._publish(account, final.value, every)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("bulk send %d stopped; retrying the request with its key resumes it", bulk_id)

    async def _send_batch(
        self, account: Account, bulk_id: int, request: BulkRequest, signature: str, batch: list[int]
    ) -> list[BulkResult]:
        async with self._db.read() as conn:
            cards = await template_store.client_cards(conn, account.user.firm_id, batch)
            contexts = await self._templates.contexts(conn, account, [c for c in batch if c in cards])
        results = []
        for client_id in batch:
            context = contexts.get(client_id)
            results.append(await self._send_one(account, bulk_id, request, signature, client_id, context))
            await asyncio.sleep(0)  # let the other sessions' frames through between threads
        return results

    async def _send_one(
        self,
        account: Account,
        bulk_id: int,
        request: BulkRequest,
        signature: str,
        client_id: int,
        context: dict[str, Any] | None,
    ) -> BulkResult:
        try:
            if context is None:
                raise errors.NotFound(f"client account {client_id} not found")
            rendered = self._templates.render(request.subject, request.body, [], context, request.fields)
            if rendered.unknown:
                raise errors.BadRequest(f"this client lacks: {', '.join(rendered.unknown)}")
            if not rendered.body.strip():
                raise errors.BadRequest("the message renders empty for this client")
            thread, _message = await self._conversations.create_thread(
                account,
                subject=rendered.subject,
                body=append(rendered.body, signature),
                client_msg_id=f"bulk-{bulk_id}-{client_id}",
                client_account_id=client_id,
                participants=[],
                source=Source.BULK,
                signature=False,  # appended above
            )
        except errors.ChatdError as exc:
            return BulkResult(
                client_account_id=client_id, ok=False, error={"code": exc.code.value, "message": exc.message}
            )
        return BulkResult(client_account_id=client_id, ok=True, thread_id=thread.id)

    def _publish(self, account: Account, bulk: BulkSend, results: list[BulkResult] | None) -> None:
        data: dict[str, Any] = {"bulk": msgspec.to_builtins(bulk)}
        if results is not None:
            data["results"] = msgspec.to_builtins(results)
        self._broker.publish(
            BusEvent(type=PROGRESS, event_id=None, audience=personal(account.user.firm_id, account.user.id), data=data)
        )


def _request(
    subject: str,
    body: str,
    template_id: int | None,
    template: Template | None,
    fields: dict[str, str],
    signature: bool,
    client_account_ids: list[int],
) -> BulkRequest:
    """The texts to render per client, checked now so a bad request fails whole, before any thread."""
    if template_id is not None and body.strip():
        raise errors.BadRequest("give a body or a template_id, not both")
    fill = dict(fields)
    if template is not None:
        missing = [f.name for f in template.fields if f.required and not fields.get(f.name, "").strip()]
        if missing:
            raise errors.BadRequest(f"fill in: {', '.join(missing)}")
        fill = {f.name: "" for f in template.fields} | fields
        subject = subject if subject.strip() else template.subject
        body = template.body
    if not body.strip():
        raise errors.BadRequest("give a body or a template_id")
    if not subject.strip():
        raise errors.BadRequest("subject must not be blank")
    templating.check(subject, "subject")
    templating.check(body, "body")
    return BulkRequest(
        subject=subject, body=body, fields=fill, signature=signature, client_account_ids=client_account_ids
    )


def _check_staff(account: Account) -> None:
    if account.user.role not in STAFF_ROLES:
        raise errors.NotFound("bulk sends are for staff")
