"""The automatic-emails queue's WebSocket ops: the same service calls as /api/automatic-emails."""

from __future__ import annotations

from typing import Any

from chatd.services.context import Services
from protocol.frames import (
    AutomaticEmailDrafts,
    AutomaticEmailEdit,
    AutomaticEmailFrame,
    AutomaticEmailRules,
    AutomaticEmailSend,
    AutomaticEmailSendAll,
)
from storage.directory import Account


async def handle(services: Services, account: Account, frame: AutomaticEmailFrame) -> dict[str, Any]:
    queue = services.generated_emails
    match frame:
        case AutomaticEmailRules():
            return {"rules": await queue.rules(account)}
        case AutomaticEmailDrafts():
            return {"drafts": await queue.drafts(account, rule_id=frame.rule_id, state=frame.state)}
        case AutomaticEmailEdit():
            return {"draft": await queue.edit(account, frame.draft_id, subject=frame.subject, body=frame.body)}
        case AutomaticEmailSend():
            return {"draft": await queue.send(account, frame.draft_id, subject=frame.subject, body=frame.body)}
        case AutomaticEmailSendAll():
            report = await queue.send_all(account, frame.rule_id)
            return {"sent": report.sent, "skipped": report.skipped}
