"""What travels between processes: an event, who may receive it, and its per-recipient variants.

Encoded as msgpack and never decoded to text on the way, so the bus stays bytes-clean.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Audience(msgspec.Struct, array_like=True, frozen=True):
    firm_id: int
    # Every owner, manager and staff session of the firm (the firm shares all threads with staff).
    all_staff: bool
    # Every client session of this client account.
    client_account_id: int | None
    # And these users, whatever their role (participants).
    user_ids: tuple[int, ...]
    # Never to clients (internal notes, and what would reveal them).
    staff_only: bool = False
    # Not to this user (the typer does not see their own typing).
    exclude_user_id: int | None = None
    # Only to owners and managers, and to author_id (a client's remark).
    managers_only: bool = False
    author_id: int | None = None


class BusEvent(msgspec.Struct, array_like=True, frozen=True):
    type: str
    event_id: int | None
    audience: Audience
    data: dict[str, Any]
    # What client sessions receive instead of ``data`` (a read marker moved back past notes).
    client_data: dict[str, Any] | None = None
    # What the sessions of ``own_user_id`` receive instead (the author sees its client_msg_id).
    own_user_id: int | None = None
    own_data: dict[str, Any] | None = None
    # The process that published it, so it can skip its own ephemeral events coming back.
    origin: str = ""

    @property
    def durable(self) -> bool:
        return self.event_id is not None

    def variant(self, user_id: int, is_client: bool) -> int:
        """0: ``data``, 1: ``client_data``, 2: ``own_data`` for this recipient."""
        if self.own_data is not None and user_id == self.own_user_id:
            return 2
        if self.client_data is not None and is_client:
            return 1
        return 0

    def data_of(self, variant: int) -> dict[str, Any]:
        if variant == 2 and self.own_data is not None:
            return self.own_data
        if variant == 1 and self.client_data is not None:
            return self.client_data
        return self.data


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(BusEvent)


def encode(event: BusEvent) -> bytes:
    return _encoder.encode(event)


def decode(payload: bytes) -> BusEvent:
    return _decoder.decode(payload)
