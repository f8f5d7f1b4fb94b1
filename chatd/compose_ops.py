"""The composer's WebSocket ops (templates, quick replies): frames in, result maps out."""

from __future__ import annotations

from typing import Any

from chatd.services import mentions
from chatd.services.context import Services
from chatd.services.templates import Rendered
from protocol.frames import (
    BulkGet,
    BulkSendRequest,
    ComposeFrame,
    DraftList,
    DraftSave,
    MentionSuggest,
    MessageVersions,
    QuickReplyExpand,
    QuickReplyList,
    SignatureGet,
    TemplateList,
    TemplatePreview,
)
from storage.directory import Account


def rendered_result(rendered: Rendered, html: str) -> dict[str, Any]:
    return {
        "subject": rendered.subject,
        "body": rendered.body,
        "html": html,
        "unknown": rendered.unknown,
        "missing_fields": rendered.missing_fields,
    }


async def dispatch(services: Services, account: Account, frame: ComposeFrame) -> dict[str, Any]:
    templates = services.templates
    match frame:
        case TemplateList():
            found, default = await templates.available(account)
            return {"templates": found, "default_template_id": default}
        case TemplatePreview():
            rendered, html, template = await templates.preview(
                account,
                template_id=frame.template_id,
                subject=frame.subject,
                body=frame.body,
                client_account_id=frame.client_account_id,
                thread_id=None,
                fields=frame.fields,
            )
            instruction = template.instruction if template is not None else ""
            return {**rendered_result(rendered, html), "instruction": instruction}
        case QuickReplyList():
            found, _default = await templates.available(account, shortcut_prefix=frame.prefix.removeprefix("/"))
            return {"quick_replies": found}
        case QuickReplyExpand():
            rendered, template = await templates.expand(account, shortcut=frame.shortcut, thread_id=frame.thread_id)
            return {"body": rendered.body, "unknown": rendered.unknown, "template_id": template.id}
        case DraftSave():
            await services.drafts.save(account, thread_id=frame.thread_id, body=frame.body)
            return {}
        case MessageVersions():
            return {"versions": await services.edit_history.versions(account, frame.message_id)}
        case DraftList():
            return {"drafts": await services.drafts.list(account, thread_id=frame.thread_id)}
        case SignatureGet():
            return await services.signatures.mine(account)
        case BulkSendRequest():
            bulk = await services.bulk_sends.start(
                account,
                key=frame.key,
                client_account_ids=frame.client_account_ids,
                subject=frame.subject,
                body=frame.body,
                template_id=frame.template_id,
                fields=frame.fields,
                signature=frame.signature,
            )
            return {"bulk": bulk}
        case BulkGet():
            bulk, results = await services.bulk_sends.get(account, frame.bulk_id)
            return {"bulk": bulk, "results": results}
        case MentionSuggest():
            users = await mentions.suggest(
                services.db,
                services.conversations,
                account,
                thread_id=frame.thread_id,
                query=frame.query,
                limit=frame.limit,
            )
            return {"users": users}
