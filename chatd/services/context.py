"""Everything a request handler needs, built once by the app's lifespan (the composition root)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from chatd.auth import Auth
from chatd.broker import Broker
from chatd.clock import Clock
from chatd.config import Settings
from chatd.hub import Hub
from chatd.services.attachments import Attachments
from chatd.services.bots import Bots
from chatd.services.bulk_sends import BulkSends
from chatd.services.business_hours import BusinessHours
from chatd.services.conversations import Conversations
from chatd.services.directory import Directory
from chatd.services.drafts import Drafts
from chatd.services.edit_history import EditHistory
from chatd.services.generated_emails import GeneratedEmails
from chatd.services.inbox import Inbox
from chatd.services.notifications import Notifications
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
from chatd.throttles import Throttles
from protocol.errors import CloseCode
from scheduler import Scheduler
from storage import Database

# Shutdown closes sessions in steps this far apart, over this long at most.
DRAIN_STEP_S = 0.05
MAX_DRAIN_SPREAD_S = 5.0


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    auth: Auth
    directory: Directory
    team: Team
    conversations: Conversations
    tasks: Tasks
    inbox: Inbox
    search: Search
    hub: Hub
    broker: Broker
    # Per-user request rate limit and typing throttle, shared by processes through Redis.
    throttles: Throttles
    bots: Bots
    attachments: Attachments
    templates: Templates
    signatures: Signatures
    bulk_sends: BulkSends
    drafts: Drafts
    edit_history: EditHistory
    webhooks: Webhooks
    # Timed work: features register handlers for their kinds of due rows on ``scheduler.due``.
    scheduler: Scheduler
    scheduled_sends: ScheduledSends
    notifications: Notifications
    generated_emails: GeneratedEmails
    business_hours: BusinessHours
    reminders: Reminders
    recurring: RecurringMessages
    web_push: WebPush

    async def close_sessions(self, timeout_s: float = 10.0) -> None:
        """Graceful shutdown: every session answers what it is doing, flushes, and closes with 1001.

        The closes are spread out, ``drain_rate`` a second (over ``MAX_DRAIN_SPREAD_S`` at most):
        each client reconnects to another process and resumes at once, and a thousand of them in
        the same instant queue their handshakes there past the clients' timeouts, which then retry
        (a rolling restart's slow tail, docs/reliability.md). Sessions not yet closed stay live."""
        sessions = self.hub.sessions()
        spread_s = min(MAX_DRAIN_SPREAD_S, len(sessions) / max(1, self.settings.drain_rate))
        steps = max(1, round(spread_s / DRAIN_STEP_S))
        for step in range(steps):
            if step:
                await asyncio.sleep(spread_s / steps)
            for session in sessions[step * len(sessions) // steps : (step + 1) * len(sessions) // steps]:
                session.request_close(CloseCode.GOING_AWAY, "server shutting down: reconnect and resume")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.hub.emptied(), timeout_s)
