"""Generated emails over HTTP: client events (one by one or a CSV import), rules, and the queue of
drafts staff send (see docs/generated_emails.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import msgspec
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from chatd import errors
from chatd.api.common import account, body, json, path_id, query, services
from chatd.services.generated_emails import ImportReport
from protocol.frames import PositiveId

MAX_CSV_BYTES = 10 * 1024 * 1024
NDJSON = "application/x-ndjson"
Text200 = Annotated[str, msgspec.Meta(max_length=200)]


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    client_account_id: PositiveId
    kind: Text200
    date: Annotated[str, msgspec.Meta(max_length=20)]
    reference: Text200 = ""


class EventQuery(msgspec.Struct, forbid_unknown_fields=True):
    client_account_id: PositiveId | None = None
    kind: Text200 | None = None
    after: Annotated[str, msgspec.Meta(max_length=20)] | None = None


class KindIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=50)]
    label: Text200


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Text200
    event_kind: Annotated[str, msgspec.Meta(max_length=50)]
    # Negative: before the event.
    days: int
    template_id: PositiveId


class RuleChange(msgspec.Struct, forbid_unknown_fields=True):
    active: bool


class SettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    time_zone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    run_hour: int | None = None
    keep_days: int | None = None


class DraftQuery(msgspec.Struct, forbid_unknown_fields=True):
    rule_id: PositiveId | None = None
    state: Annotated[str, msgspec.Meta(max_length=16)] = "pending"


class DraftText(msgspec.Struct, forbid_unknown_fields=True):
    subject: Text200 | None = None
    body: str | None = None


# -- events --


async def list_events(request: Request) -> Response:
    caller, wanted = await account(request), query(request, EventQuery)
    found = await services(request).generated_emails.events(
        caller, client_account_id=wanted.client_account_id, kind=wanted.kind, after=wanted.after
    )
    return json({"events": found})


async def record_event(request: Request) -> Response:
    caller, given = await account(request), await body(request, EventIn)
    event = await services(request).generated_emails.record_event(
        caller,
        client_account_id=given.client_account_id,
        kind=given.kind,
        on_date=given.date,
        reference=given.reference,
    )
    return json({"event": event}, 201)


async def delete_event(request: Request) -> Response:
    caller = await account(request)
    await services(request).generated_emails.delete_event(caller, path_id(request, "event_id"))
    return json({"deleted": True})


async def list_kinds(request: Request) -> Response:
    caller = await account(request)
    return json({"kinds": await services(request).generated_emails.kinds(caller)})


async def define_kind(request: Request) -> Response:
    caller, given = await account(request), await body(request, KindIn)
    kinds = await services(request).generated_emails.define_kind(caller, name=given.name, label=given.label)
    return json({"kinds": kinds})


async def import_events(request: Request) -> Response:
    """A CSV (multipart field ``file``, or the body as text/csv): columns ``client`` (the account's
    name) or ``client_id``, ``kind``, ``date``, and optionally ``reference``. Answers the per-row
    report; with ``Accept: application/x-ndjson``, a progress line per chunk first."""
    caller = await account(request)
    rows = _csv_rows(await _csv_text(request))
    imports = services(request).generated_emails.import_rows(caller, rows)
    if NDJSON not in request.headers.get("accept", ""):
        reports = [report async for report in imports]
        return json({"report": reports[-1]})
    first = await anext(imports)  # errors in the header or the caller are answered before streaming

    async def lines() -> AsyncIterator[bytes]:
        report = first
        yield msgspec.json.encode({"progress": _progress(report)}) + b"\n"
        async for report in imports:
            yield msgspec.json.encode({"progress": _progress(report)}) + b"\n"
        yield msgspec.json.encode({"report": report}) + b"\n"

    return StreamingResponse(lines(), media_type=NDJSON)


def _progress(report: ImportReport) -> dict[str, int]:
    return {
        "rows": report.rows,
        "imported": report.imported,
        "already_recorded": report.already_recorded,
        "problems": len(report.problems or []),
    }


async def _csv_text(request: Request) -> str:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        async with request.form(max_files=1, max_fields=5) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise errors.BadRequest("send the CSV as the multipart field 'file'")
            raw = await upload.read(MAX_CSV_BYTES + 1)
    elif kind in ("text/csv", "text/plain"):
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_CSV_BYTES:
                break
    else:
        raise errors.BadRequest("send the CSV as multipart/form-data (field 'file') or text/csv")
    if len(raw) > MAX_CSV_BYTES:
        raise errors.TooLarge(f"the CSV is over {MAX_CSV_BYTES} bytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise errors.BadRequest("the CSV is not UTF-8") from None


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    """Rows as (line number, {column: value}); ``;`` or ``,`` separated, as spreadsheets write them."""
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise errors.BadRequest("the CSV is empty") from None
    except csv.Error as exc:
        raise errors.BadRequest(f"the CSV's header: {exc}") from None
    missing = {"kind", "date"} - set(header)
    if missing or not {"client", "client_id"} & set(header):
        needed = sorted(missing) + ([] if {"client", "client_id"} & set(header) else ["client or client_id"])
        raise errors.BadRequest(f"the CSV needs the columns: {', '.join(needed)}")
    return _records(reader, header)


def _records(reader: Any, header: list[str]) -> Iterator[tuple[int, dict[str, str] | str]]:
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, f"not CSV: {exc}"
            continue
        if any(v.strip() for v in values):
            yield reader.line_num, dict(zip(header, values, strict=False))


# -- rules and settings --


async def list_rules(request: Request) -> Response:
    caller = await account(request)
    return json({"rules": await services(request).generated_emails.rules(caller)})


async def create_rule(request: Request) -> Response:
    caller, given = await account(request), await body(request, RuleIn)
    rule = await services(request).generated_emails.create_rule(
        caller, name=given.name, event_kind=given.event_kind, days=given.days, template_id=given.template_id
    )
    return json({"rule": rule}, 201)


async def change_rule(request: Request) -> Response:
    caller, given = await account(request), await body(request, RuleChange)
    rule = await services(request).generated_emails.set_rule_active(caller, path_id(request, "rule_id"), given.active)
    return json({"rule": rule})


async def send_all(request: Request) -> Response:
    caller = await account(request)
    report = await services(request).generated_emails.send_all(caller, path_id(request, "rule_id"))
    return json({"sent": report.sent, "skipped": report.skipped})


async def get_settings(request: Request) -> Response:
    caller = await account(request)
    return json({"settings": await services(request).generated_emails.settings(caller)})


async def change_settings(request: Request) -> Response:
    caller, given = await account(request), await body(request, SettingsIn)
    changed = await services(request).generated_emails.change_settings(
        caller, time_zone_name=given.time_zone, run_hour=given.run_hour, keep_days=given.keep_days
    )
    return json({"settings": changed})


# -- drafts --


async def list_drafts(request: Request) -> Response:
    caller, wanted = await account(request), query(request, DraftQuery)
    found = await services(request).generated_emails.drafts(caller, rule_id=wanted.rule_id, state=wanted.state)
    return json({"drafts": found})


async def get_draft(request: Request) -> Response:
    caller = await account(request)
    return json({"draft": await services(request).generated_emails.draft(caller, path_id(request, "draft_id"))})


async def edit_draft(request: Request) -> Response:
    caller, given = await account(request), await body(request, DraftText)
    edited = await services(request).generated_emails.edit(
        caller, path_id(request, "draft_id"), subject=given.subject, body=given.body
    )
    return json({"draft": edited})


async def send_draft(request: Request) -> Response:
    caller, given = await account(request), await body(request, DraftText)
    sent = await services(request).generated_emails.send(
        caller, path_id(request, "draft_id"), subject=given.subject, body=given.body
    )
    return json({"draft": sent})


routes = [
    Route("/api/client-events", list_events, methods=["GET"]),
    Route("/api/client-events", record_event, methods=["POST"]),
    Route("/api/client-events/import", import_events, methods=["POST"]),
    Route("/api/client-events/kinds", list_kinds, methods=["GET"]),
    Route("/api/client-events/kinds", define_kind, methods=["POST"]),
    Route("/api/client-events/{event_id:int}", delete_event, methods=["DELETE"]),
    Route("/api/automatic-emails/rules", list_rules, methods=["GET"]),
    Route("/api/automatic-emails/rules", create_rule, methods=["POST"]),
    Route("/api/automatic-emails/rules/{rule_id:int}", change_rule, methods=["PATCH"]),
    Route("/api/automatic-emails/rules/{rule_id:int}/send-all", send_all, methods=["POST"]),
    Route("/api/automatic-emails/settings", get_settings, methods=["GET"]),
    Route("/api/automatic-emails/settings", change_settings, methods=["PATCH"]),
    Route("/api/automatic-emails/drafts", list_drafts, methods=["GET"]),
    Route("/api/automatic-emails/drafts/{draft_id:int}", get_draft, methods=["GET"]),
    Route("/api/automatic-emails/drafts/{draft_id:int}", edit_draft, methods=["PATCH"]),
    Route("/api/automatic-emails/drafts/{draft_id:int}/send", send_draft, methods=["POST"]),
]
