"""Folder counts stay exact: after any sequence of actions they equal a recount from scratch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatd.services.context import Services
from tests.conftest import Connect, make_cast, new_id, open_thread

FOLDERS = ("inbox", "unread", "follow_up", "assigned", "urgent", "archived", "trash", "spam")
STEPS = (
    "archive",
    "unarchive",
    "trash",
    "restore",
    "spam",
    "not_spam",
    "assign_me",
    "assign_other",
    "unassign",
    "urgent_on",
    "urgent_off",
    "snooze",
    "follow_up",
    "clear_follow_up",
    "read",
    "unread",
    "client_writes",
)


@dataclass
class Model:
    """What one staff member should see of one thread, kept by hand."""

    state: str = "inbox"
    snoozed: bool = False
    follow_up: bool = False
    assignee: str | None = None
    urgent: bool = False
    unread: int = 0
    others_wrote: bool = False

    def apply(self, step: str) -> None:
        cleared = {"follow_up": False, "snoozed": False}
        match step:
            case "archive" | "trash" | "spam":
                self.state = {"archive": "archived", "trash": "trash", "spam": "spam"}[step]
                self.__dict__.update(cleared)
            case "unarchive" | "restore" | "not_spam":
                needed = {"unarchive": "archived", "restore": "trash", "not_spam": "spam"}[step]
                if self.state == needed:
                    self.state = "inbox"
            case "assign_me" | "assign_other" | "unassign":
                self.assignee = {"assign_me": "me", "assign_other": "other", "unassign": None}[step]
            case "urgent_on" | "urgent_off":
                self.urgent = step == "urgent_on"
            case "snooze":
                self.state, self.snoozed, self.follow_up = "inbox", True, False
            case "follow_up":
                self.state, self.follow_up, self.snoozed = "inbox", True, False
            case "clear_follow_up":
                self.__dict__.update(cleared)
            case "read":
                self.unread = 0
            case "unread":
                if self.others_wrote:
                    self.unread = 1
            case "client_writes":
                self.unread += 1
                self.others_wrote = True
                if self.state == "archived" or self.snoozed:
                    self.state, self.snoozed = "inbox", False

    def folders(self) -> set[str]:
        waiting = self.snoozed or self.follow_up
        live = self.state not in ("trash", "spam")
        held = {self.state} if self.state != "inbox" else {"follow_up" if waiting else "inbox"}
        if live and self.unread:
            held.add("unread")
        if live and self.assignee == "me":
            held.add("assigned")
        if live and self.urgent:
            held.add("urgent")
        return held


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 2)), min_size=1, max_size=14))
async def test_folder_counts_equal_a_recount(
    services: Services, connect: Connect, steps: list[tuple[str, int]]
) -> None:
    cast = await make_cast(services)
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    threads = [(await open_thread(staff, cast.client))["thread"]["id"] for _ in range(3)]
    models = [Model() for _ in threads]
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    actions = {
        "assign_me": {"type": "assign", "user_id": cast.staff.id},
        "assign_other": {"type": "assign", "user_id": cast.staff2.id},
        "unassign": {"type": "assign", "user_id": None},
        "urgent_on": {"type": "urgent", "on": True},
        "urgent_off": {"type": "urgent", "on": False},
        "follow_up": {"type": "follow_up", "at": later},
        "clear_follow_up": {"type": "follow_up", "at": None},
    }
    for step, index in steps:
        if step == "client_writes":
            await client.ok("send", thread_id=threads[index], body="news", client_msg_id=new_id())
        else:
            await staff.ok("threads.act", thread_ids=[threads[index]], action=actions.get(step, {"type": step}))
        models[index].apply(step)

    counted = {f["name"]: (f["count"], f["unread"]) for f in (await staff.ok("folders"))["folders"]}
    for folder in FOLDERS:
        expected = [m for m in models if folder in m.folders()]
        listed = {t["id"]: t for t in (await staff.ok("threads", folder=folder, limit=100))["threads"]}
        assert set(listed) == {t for t, m in zip(threads, models, strict=True) if folder in m.folders()}, folder
        with_unread = sum(1 for t in listed.values() if t["unread"])
        assert counted[folder] == (len(expected), with_unread) == (len(listed), sum(1 for m in expected if m.unread))
