"""The ``/ws`` endpoint: handshake, then the connection's own task reads requests in order, and
the session's writer (a task only while there is something to send) writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from chatd import automation_ops, compose_ops, errors, genmail_ops, inbox_ops, revocations
from chatd.bus import BusEvent
from chatd.logcontext import REQUEST_ID, SESSION_ID
from chatd.services.context import Services
from chatd.services.conversations import send_options
from chatd.session import Frame, Session, SocketGone, WriteNow
from protocol import SUBPROTOCOLS, Codec, ProtocolError, codec_for
from protocol.codec import JSON_SUBPROTOCOL
from protocol.errors import CloseCode, ErrorCode
from protocol.frames import (
    AutomaticEmailDrafts,
    AutomaticEmailEdit,
    AutomaticEmailRules,
    AutomaticEmailSend,
    AutomaticEmailSendAll,
    BulkGet,
    BulkSendRequest,
    BusinessHoursGet,
    BusinessHoursSet,
    ClientFrame,
    Delete,
    DraftList,
    DraftSave,
    Edit,
    Error,
    Event,
    Hello,
    History,
    MentionSuggest,
    MessageVersions,
    Ok,
    Ping,
    QuickReplyExpand,
    QuickReplyList,
    Read,
    RecurringCancel,
    RecurringCreate,
    RecurringList,
    RecurringUpdate,
    RemindersGet,
    RemindersResend,
    RemindersSet,
    Resume,
    ScheduledCancel,
    ScheduledEdit,
    ScheduledList,
    Send,
    SignatureGet,
    TemplateList,
    TemplatePreview,
    ThreadCreate,
    Threads,
    Typing,
)
from protocol.values import Role, Source, format_time
from storage import errors as storage_errors
from storage.directory import Account

logger = logging.getLogger(__name__)

WS_PATH = "/ws"


async def websocket_endpoint(websocket: WebSocket, write_now: WriteNow | None = None) -> None:
    """Serve one WebSocket; ``write_now`` writes a frame without waiting where the server allows
    it (chatd.direct_write), and ASGI's ``send`` does the rest."""
    services: Services = websocket.app.state.services
    offered: list[str] = websocket.scope.get("subprotocols", [])
    chosen = next((p for p in offered if p in SUBPROTOCOLS), None)
    if offered and chosen is None:
        await _deny(websocket, 400, ErrorCode.BAD_REQUEST, f"supported subprotocols: {', '.join(SUBPROTOCOLS)}")
        return
    caller = await services.auth.authenticate(websocket.headers, websocket.cookies)
    if caller is None:
        await _deny(websocket, 403, ErrorCode.UNAUTHORIZED, "missing, invalid or revoked credentials")
        return
    secure = websocket.url.scheme == "wss"
    if caller.via_cookie and not services.auth.origin_allowed(
        websocket.headers.get("origin"), websocket.headers.get("host"), secure
    ):
        await _deny(websocket, 403, ErrorCode.UNAUTHORIZED, "origin not allowed")
        return
    await websocket.accept(subprotocol=chosen)
    account = caller.account
    source = Source.API if not caller.via_cookie or account.user.role is Role.BOT else Source.PORTAL
    codec = codec_for(chosen or JSON_SUBPROTOCOL)
    await Connection(websocket, services, account, codec, source, caller.credential, write_now).run()


async def _deny(websocket: WebSocket, status: int, code: ErrorCode, message: str) -> None:
    await websocket.send_denial_response(
        JSONResponse({"error": {"code": code.value, "message": message}}, status_code=status)
    )


class Connection:
    __slots__ = (
        "_busy",
        "_closing",
        "_live_from",
        "_receiving",
        "_stopping",
        "_task",
        "_write_now",
        "account",
        "codec",
        "services",
        "session",
        "source",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        services: Services,
        account: Account,
        codec: Codec,
        source: Source,
        credential: str,
        write_now: WriteNow | None,
    ) -> None:
        self.websocket = websocket
        self._write_now = write_now
        # Where threads this connection opens come from: the web app, or an integration's token.
        self.source = source
        self.services = services
        self.account = account
        self.codec = codec
        settings = services.settings
        self.session = Session(
            account,
            binary=codec.binary,
            queue_size=settings.outbound_queue,
            session_id=uuid.uuid4().hex[:12],
            credential=credential,
            stall_s=settings.send_stall_s,
        )
        self.session.on_close_request = self.request_close
        self.session.load_missed = self._load_missed
        self._task: asyncio.Task[Any] | None = None  # the connection's own: it reads
        # The hello's event_id: events up to it are in SQL, newer ones are delivered live.
        self._live_from = 0
        self._busy = False  # handling a request: let it finish before stopping
        self._receiving = False  # waiting for the client's next frame: safe to interrupt
        self._stopping = False
        self._closing: tuple[int, str] | None = None

    async def run(self) -> None:
        session, hub = self.session, self.services.hub
        SESSION_ID.set(session.session_id)  # for this connection's log lines, its tasks' too
        self._task = asyncio.current_task()
        # Register before reading the position, so no event falls between the two.
        hub.add(session)
        presence: str | None = None
        logger.info("session %s opened for user %s (%s)", session.session_id, session.user_id, self.codec.subprotocol)
        try:
            # A revocation published since the handshake's check found no session to close.
            live, self._live_from = await asyncio.gather(
                self.services.auth.still_live(session.credential),
                self.services.conversations.newest_event_id(self.account),
            )
            if not live:
                revocations.close(session)
            session.position = self._live_from
            session.push_reply(self.codec.encode(self._hello(self._live_from)))
            session.start(self._send, self._stop_reading, self._write_now)
            grace = asyncio.get_running_loop().call_later(self.services.settings.resume_grace_s, session.open_gate)
            try:
                # Recorded while the client is already served (its resume need not wait for it).
                presence = await self.services.notifications.session_opened(self.account.user)
                await self._read(grace)
            finally:
                grace.cancel()
                await self._finish()
        finally:
            hub.remove(session)
            if presence is not None:
                await self.services.notifications.session_closed(presence, self.account.user)
            logger.info("session %s closed", session.session_id)

    def request_close(self, code: int, reason: str) -> None:
        """Close after the request in hand is answered and the queue is flushed (shutdown)."""
        self._closing = (code, reason)
        self._stop_reading()

    def _stop_reading(self) -> None:
        """Read no further request: the session ends (aborted, socket gone, or shutting down)."""
        if self._stopping:
            return  # cancelled once only: ``_receive`` tells its own cancellation by the count
        self._stopping = True
        if self._receiving and self._task is not None:
            self._task.cancel()  # lands in ``receive``, where ``_read`` takes it

    async def _finish(self) -> None:
        """Stop the writer; close the socket with the reason that ended the session, if any."""
        session = self.session
        close = session.close_reason or self._closing
        if self._closing is not None and session.close_reason is None:
            # A graceful close: send what is queued first.
            session.finish()
            try:
                async with asyncio.timeout(5):
                    await session.flushed()
            except TimeoutError:
                logger.warning("session %s did not flush within 5 s", session.session_id)
        await session.stop()
        if close is not None:
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):  # already gone
                await self.websocket.close(code=close[0], reason=close[1])

    async def _send(self, frame: Frame) -> None:
        try:
            if isinstance(frame, str):
                await self.websocket.send_text(frame)
            else:
                await self.websocket.send_bytes(frame)
        except (WebSocketDisconnect, OSError, RuntimeError) as exc:  # closed, or closing
            raise SocketGone from exc

    async def _receive(self) -> Message | None:
        """The client's next frame; None once the session is to stop (or the socket closed)."""
        if self._stopping or self._closing is not None or self.session.close_reason is not None:
            return None
        self._receiving = True
        try:
            message = await self.websocket.receive()
        except WebSocketDisconnect:
            return None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            # Ours (``_stop_reading``) unless someone else cancelled the task too.
            if not self._stopping or task is None or task.uncancel() > 0:
                raise
            return None
        finally:
            self._receiving = False
        return None if message["type"] == "websocket.disconnect" else message

    async def _read(self, grace: asyncio.TimerHandle) -> None:
        max_bytes = self.services.settings.max_frame_bytes
        while (message := await self._receive()) is not None:
            payload: str | bytes | None = message.get("text")
            if payload is None:
                payload = message.get("bytes") or b""
            if len(payload) > max_bytes or (isinstance(payload, str) and len(payload.encode()) > max_bytes):
                self.session.abort(CloseCode.TOO_BIG, f"frame over {max_bytes} bytes")
                return
            grace.cancel()
            self._busy = True
            try:
                await self._handle(payload)
            finally:
                self._busy = False
                REQUEST_ID.set(None)
            self.session.open_gate()

    async def _handle(self, payload: str | bytes) -> None:
        wait = await self.services.throttles.take_request(self.account.user.id)
        try:
            frame = self.codec.decode(payload)
        except ProtocolError as exc:
            self._reply(Error(id=exc.request_id, code=exc.code.value, message=exc.message))
            return
        REQUEST_ID.set(None if frame.id is None else str(frame.id))
        try:
            if wait:
                raise errors.RateLimited(
                    f"over {self.services.settings.requests_per_second:g} requests a second", round(wait, 3)
                )
            try:
                result = await self._dispatch(frame)
            except storage_errors.Unavailable as exc:
                # The client is told only to retry; the operator needs what failed (refused, silent,
                # no free pooled connection).
                logger.info("%s: %s", frame.__struct_config__.tag, exc)
                raise errors.Unavailable("the database cannot be reached; retry") from exc
        except errors.ChatdError as exc:
            retry_after = exc.retry_after if isinstance(exc, errors.RateLimited | errors.Unavailable) else None
            logger.info("%s answered %s: %s", frame.__struct_config__.tag, exc.code.value, exc.message)
            self._reply(Error(id=frame.id, code=exc.code.value, message=exc.message, retry_after=retry_after))
            return
        except Exception:
            logger.exception("session %s: %s failed", self.session.session_id, type(frame).__name__)
            self._reply(Error(id=frame.id, code="internal", message="internal error"))
            return
        if frame.id is not None:
            self._reply(Ok(id=frame.id, result=result))

    def _reply(self, frame: Ok | Error) -> None:
        self.session.push_reply(self.codec.encode(frame))

    def _hello(self, event_id: int) -> Hello:
        settings = self.services.settings
        return Hello(
            user=self.account.user,
            event_id=event_id,
            heartbeat_s=settings.heartbeat_s,
            limits={
                "max_frame_bytes": settings.max_frame_bytes,
                "max_body_chars": settings.max_body_chars,
                "requests_per_second": int(settings.requests_per_second),
                "page_limit": 100,
            },
        )

    async def _dispatch(self, frame: ClientFrame) -> dict[str, Any]:
        conversations, account = self.services.conversations, self.account
        match frame:
            case Send() if frame.send_at is not None:
                scheduled = await self.services.scheduled_sends.schedule(
                    account,
                    thread_id=frame.thread_id,
                    body=frame.body,
                    client_msg_id=frame.client_msg_id,
                    kind=frame.kind,
                    send_at=frame.send_at,
                    cancel_if_client_writes=frame.cancel_if_client_writes,
                    attachment_ids=frame.attachment_ids,
                    signature=frame.signature,
                    copy_to=frame.copy_to,
                )
                return {"scheduled": scheduled}
            case Send():
                message = await conversations.send(
                    account,
                    thread_id=frame.thread_id,
                    body=frame.body,
                    client_msg_id=frame.client_msg_id,
                    kind=frame.kind,
                    attachment_ids=frame.attachment_ids,
                    options=send_options(frame),
                )
                return {"message": message}
            case Edit():
                return {"message": await conversations.edit(account, message_id=frame.message_id, body=frame.body)}
            case Delete():
                return {"message": await conversations.delete(account, message_id=frame.message_id)}
            case Typing():
                await conversations.typing(account, thread_id=frame.thread_id, kind=frame.kind)
                return {}
            case Read():
                await conversations.read(account, thread_id=frame.thread_id, message_id=frame.message_id)
                return {}
            case History():
                messages, has_more = await conversations.history(
                    account, thread_id=frame.thread_id, before=frame.before, after=frame.after, limit=frame.limit
                )
                return {"messages": messages, "has_more": has_more}
            case Threads():
                page = await conversations.threads(
                    account,
                    cursor=frame.cursor,
                    limit=frame.limit,
                    folder=frame.folder,
                    source=frame.source,
                    label=frame.label,
                    client_account_id=frame.client_account_id,
                )
                return {"threads": page.threads, "cursor": page.cursor}
            case ThreadCreate():
                await automation_ops.new_thread_reminders(self.services, account, frame.reminders)
                thread, message = await conversations.create_thread(
                    account,
                    subject=frame.subject,
                    body=frame.body,
                    client_msg_id=frame.client_msg_id,
                    client_account_id=frame.client_account_id,
                    participants=frame.participants,
                    attachment_ids=frame.attachment_ids,
                    source=self.source,
                    signature=frame.signature,
                    template_id=frame.template_id,
                    fields=frame.fields,
                )
                await automation_ops.new_thread_reminders(self.services, account, frame.reminders, thread_id=thread.id)
                return {"thread": thread, "message": message}
            case Resume():
                return {"replayed": await self._resume(frame.after_event_id)}
            case (
                TemplateList()
                | TemplatePreview()
                | QuickReplyList()
                | QuickReplyExpand()
                | DraftSave()
                | DraftList()
                | MessageVersions()
                | SignatureGet()
                | MentionSuggest()
                | BulkSendRequest()
                | BulkGet()
            ):
                return await compose_ops.dispatch(self.services, account, frame)
            case Ping():
                return {"ts": format_time(self.services.clock.now())}
            case ScheduledList():
                found = await self.services.scheduled_sends.list(
                    account, thread_id=frame.thread_id, include_done=frame.include_done
                )
                return {"scheduled": found}
            case ScheduledEdit():
                edited = await self.services.scheduled_sends.edit(
                    account,
                    scheduled_id=frame.scheduled_id,
                    body=frame.body,
                    send_at=frame.send_at,
                    copy_to=frame.copy_to,
                )
                return {"scheduled": edited}
            case ScheduledCancel():
                return {
                    "scheduled": await self.services.scheduled_sends.cancel(account, scheduled_id=frame.scheduled_id)
                }
            case (
                BusinessHoursGet()
                | BusinessHoursSet()
                | RemindersGet()
                | RemindersSet()
                | RemindersResend()
                | RecurringCreate()
                | RecurringList()
                | RecurringUpdate()
                | RecurringCancel()
            ):
                return await automation_ops.handle(self.services, account, frame)
            case (
                AutomaticEmailRules()
                | AutomaticEmailDrafts()
                | AutomaticEmailEdit()
                | AutomaticEmailSend()
                | AutomaticEmailSendAll()
            ):
                return await genmail_ops.handle(self.services, account, frame)
            case _:
                return await inbox_ops.handle(self.services, account, frame)

    async def _load_missed(self, after: int, through: int, limit: int) -> tuple[list[tuple[int, Frame]], int]:
        conversations = self.services.conversations
        events, covered = await conversations.replay_page(self.account, after=after, through=through, page=limit)
        frames = [(event.event_id, self._encode_event(event)) for event in events if event.event_id is not None]
        return frames, covered

    def _encode_event(self, event: BusEvent) -> Frame:
        data = event.data_of(event.variant(self.session.user_id, self.session.is_client))
        return self.codec.encode(Event(type=event.type, data=data, event_id=event.event_id))

    async def _resume(self, after: int) -> int:
        """Replay, queued before the ``ok``, what the client missed up to the hello's event_id;
        newer events are this connection's live ones, so nothing comes twice."""
        session = self.session
        events = await self.services.conversations.replay(self.account, after=after, through=self._live_from)
        for event in events:
            await session.push_reply_when_room(self._encode_event(event))
        return len(events)
