"""The Starlette application and its lifespan, the one place where the parts are built and joined."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, WebSocketRoute

from chatd import errors, metrics
from chatd.api import attachments as attachments_api
from chatd.api import automation as automation_api
from chatd.api import (
    bots,
    health,
    inbox,
    lookups,
    protocol_spec,
    scheduled,
    session,
    threads,
    tokens,
    users,
    webhooks,
)
from chatd.api import bulk_sends as bulk_sends_api
from chatd.api import generated_emails as generated_emails_api
from chatd.api import notifications as notifications_api
from chatd.api import push as push_api
from chatd.api import signatures as signatures_api
from chatd.api import templates as templates_api
from chatd.api.common import error_response, handle_error
from chatd.auth import Auth, Passwords
from chatd.broker import Broker, LocalBroker, RedisBroker
from chatd.bus import BusEvent
from chatd.clock import Clock, OffsetClock, SystemClock
from chatd.config import Settings
from chatd.hub import Hub
from chatd.logcontext import RequestIdMiddleware
from chatd.revocations import Revocations
from chatd.revocations import sweep as revocation_sweep
from chatd.services import attachments as attachments_module
from chatd.services import client_copies as client_copies_module
from chatd.services import events as rendering
from chatd.services import generated_emails as generated_emails_module
from chatd.services import notifications as notifications_module
from chatd.services import outbox as outbox_module
from chatd.services import recurring as recurring_module
from chatd.services import reminders as reminders_module
from chatd.services import scheduled_sends as scheduled_sends_module
from chatd.services.attachments import Attachments
from chatd.services.auto_replies import AutoReplies
from chatd.services.bots import Bots
from chatd.services.bulk_sends import BulkSends
from chatd.services.business_hours import BusinessHours
from chatd.services.client_copies import ClientCopies
from chatd.services.context import Services
from chatd.services.conversations import TYPING_INTERVAL_S, Conversations
from chatd.services.directory import Directory
from chatd.services.drafts import Drafts
from chatd.services.edit_history import EditHistory
from chatd.services.generated_emails import GeneratedEmails
from chatd.services.inbox import Inbox
from chatd.services.notifications import Notifications
from chatd.services.outbox import Outbox
from chatd.services.push import WebPush
from chatd.services.recurring import RecurringMessages
from chatd.services.reminders import Reminders
from chatd.services.scheduled_sends import ScheduledSends
from chatd.services.search import Search
from chatd.services.signatures import Signatures
from chatd.services.tasks import Tasks
from chatd.services.team import Team
from chatd.services.templates import Templates
from chatd.services.webhooks import Webhooks
from chatd.throttles import LocalThrottles, RedisThrottles, Throttles
from chatd.web import WebClient
from chatd.ws import WS_PATH, websocket_endpoint
from scheduler import Scheduler
from scheduler.jobs import prune_events
from storage import Database
from storage import errors as storage_errors
from storage import events as event_store

logger = logging.getLogger(__name__)

WEB_CLIENT = Path(__file__).resolve().parent.parent / "web_client"


def build_services(settings: Settings, clock: Clock) -> Services:
    db = Database(settings.database_url, on_commit=metrics.COMMIT_SECONDS.observe, timeout_s=settings.db_timeout_s)
    broker: Broker = (
        RedisBroker(settings.redis_url, health_s=settings.redis_health_s) if settings.redis_url else LocalBroker()
    )

    async def load_events(after: int, through: int) -> list[BusEvent]:
        async with db.read() as conn:
            # The hub steps over ids absent from SQL: only safe once they can no longer commit.
            await event_store.settled_event_id(conn)
            return await rendering.load(conn, after, through)

    async def newest_event_id() -> int:
        async with db.read() as conn:
            return await event_store.settled_event_id(conn)

    passwords = Passwords()
    revocations = Revocations(broker)
    directory = Directory(db, clock, passwords, revocations)
    attachments = Attachments(db, clock, settings)
    bot_service = Bots(db, clock, directory, revocations)
    limits = (settings.requests_per_second, TYPING_INTERVAL_S, settings.login_attempts_per_minute)
    throttles: Throttles = (
        RedisThrottles(settings.redis_url, *limits) if settings.redis_url else LocalThrottles(*limits)
    )
    tasks = Tasks(db, broker, clock)
    signatures = Signatures(db, clock)
    notifications = Notifications(db, broker, clock, settings)
    templates = Templates(db, clock, settings)
    copies = ClientCopies(db, settings)
    conversations = Conversations(
        db, broker, clock, settings, attachments, throttles, tasks, signatures, notifications, templates, copies
    )
    conversations.on_message(AutoReplies(conversations).answer)
    jobs = Scheduler(db, clock.now, tick_s=settings.scheduler_tick_s, on_lag=metrics.SCHEDULER_LAG.set)
    scheduled_sends = ScheduledSends(db, clock, conversations, copies)
    jobs.due.on(scheduled_sends_module.DUE_KIND, scheduled_sends.deliver)
    retention = timedelta(days=settings.event_retention_days)
    jobs.every("prune-events", 3600, lambda: prune_events(db, clock.now, retention))
    inbox_service = Inbox(db, broker, clock, conversations, notifications, attachments)
    jobs.due.on(attachments_module.EXPIRE_KIND, attachments.expire_unsent)
    outbox = Outbox(settings)
    reminders = Reminders(db, clock, settings, conversations, outbox, notifications)
    conversations.on_message(reminders.on_message)
    inbox_service.on_action(reminders.on_thread_action)
    jobs.due.on(reminders_module.DUE_KIND, reminders.fire)
    business_hours = BusinessHours(db, clock)
    recurring = RecurringMessages(db, clock, conversations, business_hours)
    jobs.due.on(recurring_module.DUE_KIND, recurring.fire)
    if outbox.enabled:
        jobs.due.on_delivery(outbox_module.MAIL_KIND, outbox.deliver)
    jobs.every("notify-fan-out", settings.scheduler_tick_s, notifications.fan_out)
    jobs.every("presence", notifications_module.PRESENCE_REFRESH_S, notifications.refresh_presence)
    if notifications.email_enabled:
        jobs.due.on_delivery(notifications_module.EMAIL_KIND, notifications.deliver_email)
    if notifications.sms_enabled:
        jobs.due.on_delivery(notifications_module.SMS_KIND, notifications.deliver_sms)
    if copies.email_enabled:
        jobs.due.on_delivery(client_copies_module.EMAIL_KIND, copies.deliver_email)
    if copies.sms_enabled:
        jobs.due.on_delivery(client_copies_module.SMS_KIND, copies.deliver_sms)
    web_push = WebPush(db, clock, settings)
    jobs.due.on_delivery(notifications_module.PUSH_KIND, web_push.deliver)
    generated_emails = GeneratedEmails(db, clock, conversations, templates, business_hours)
    jobs.due.on(generated_emails_module.DUE_KIND, generated_emails.run_daily)
    webhook_service = Webhooks(db, clock, settings, bot_service)
    jobs.every("webhooks", settings.scheduler_tick_s, webhook_service.run_once)
    jobs.every("follow-ups", settings.scheduler_tick_s, inbox_service.follow_ups_due)
    jobs.every("urgent-renotify", settings.scheduler_tick_s, inbox_service.renotify_due)
    hub = Hub(load_events, newest_event_id)
    auth = Auth(db, settings, clock, passwords, revocations)

    async def revalidate_sessions() -> None:
        closed = await revocation_sweep(hub, auth.live_credentials)
        if closed:
            logger.info("closed %d sessions whose credentials no longer work", closed)

    jobs.every("revalidate-sessions", settings.revalidate_s, revalidate_sessions)
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        auth=auth,
        directory=directory,
        team=Team(db, directory, revocations),
        conversations=conversations,
        attachments=attachments,
        templates=templates,
        signatures=signatures,
        bulk_sends=BulkSends(db, clock, broker, conversations, templates),
        drafts=Drafts(db, clock, settings),
        edit_history=EditHistory(db, clock),
        tasks=tasks,
        inbox=inbox_service,
        search=Search(db),
        hub=hub,
        broker=broker,
        throttles=throttles,
        bots=bot_service,
        webhooks=webhook_service,
        scheduler=jobs,
        scheduled_sends=scheduled_sends,
        notifications=notifications,
        generated_emails=generated_emails,
        business_hours=business_hours,
        reminders=reminders,
        recurring=recurring,
        web_push=web_push,
    )


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    clock = clock or (OffsetClock(settings.clock_file) if settings.clock_file else SystemClock())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc = build_services(settings, clock)
        await svc.db.migrate()
        await svc.hub.start()
        await svc.broker.start(svc.hub)
        svc.scheduler.start()
        app.state.services = svc
        logger.info("chatd ready (%s, %s broker)", svc.db.url.get_backend_name(), type(svc.broker).__name__)
        try:
            yield
        finally:
            await svc.close_sessions()
            await svc.bulk_sends.close()
            await svc.scheduler.shutdown()
            await svc.broker.stop()  # no event comes in after this: the hub ends its gap filler
            await svc.hub.stop()
            await svc.throttles.close()
            await svc.webhooks.close()
            await svc.db.dispose()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {401: "unauthorized", 404: "not_found", 413: "too_large", 429: "rate_limited"}.get(
            exc.status_code, "bad_request"
        )
        return error_response(code, str(exc.detail), exc.status_code)

    async def unreachable(request: Request, exc: Exception) -> Response:
        return await handle_error(request, errors.Unavailable("the database cannot be reached; retry"))

    async def crash(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response("internal", "internal error", 500)

    routes = [
        WebSocketRoute(WS_PATH, websocket_endpoint),
        *health.routes,
        *session.routes,
        *threads.routes,
        *inbox.routes,
        *tokens.routes,
        *users.routes,
        *attachments_api.routes,
        *templates_api.routes,
        *signatures_api.routes,
        *bulk_sends_api.routes,
        *bots.routes,
        *protocol_spec.routes,
        *webhooks.routes,
        *lookups.routes,
        *scheduled.routes,
        *notifications_api.routes,
        *generated_emails_api.routes,
        *automation_api.routes,
        *push_api.routes,
    ]
    if WEB_CLIENT.is_dir():
        routes.append(Mount("/", WebClient(WEB_CLIENT), name="web_client"))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            errors.ChatdError: handle_error,
            storage_errors.Unavailable: unreachable,
            HTTPException: http_error,
            500: crash,
        },
        middleware=[Middleware(RequestIdMiddleware)],
    )
