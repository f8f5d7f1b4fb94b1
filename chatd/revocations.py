"""Closing the live sockets of credentials that stopped working, on every process.

A logout, a password change, a deactivation, a role change or a revoked token publishes a
revocation on the bus (ephemeral: it is about who is connected now, not history); each process's
hub closes the matching sessions with close code 4003. A new handshake with the old credentials
is already refused by the database, so only the sockets opened before need this.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING

from chatd.bus import Audience, BusEvent
from protocol.errors import CloseCode

if TYPE_CHECKING:  # chatd.broker imports the hub, which imports this module
    from chatd.broker import Broker
    from chatd.hub import Hub
    from chatd.session import Session

LiveCredentials = Callable[[Collection[str]], Awaitable[set[str]]]

EVENT_TYPE = "credentials.revoked"
# What a revocation matches: every session of the user, their browser logins, or one credential.
ALL = "all"
LOGINS = "login:"


def login_credential(secret_hash: str) -> str:
    return LOGINS + secret_hash


def token_credential(token_id: int) -> str:
    return f"token:{token_id}"


REASON = "credentials revoked: log in again"


def token_id_of(credential: str) -> int:
    return int(credential.removeprefix("token:"))


def matches(match: str, credential: str) -> bool:
    return match in (ALL, credential) or (match == LOGINS and credential.startswith(LOGINS))


class Revocations:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def revoke(self, user_id: int, match: str = ALL) -> None:
        """Close the user's sessions that ``match`` (ALL, LOGINS or one credential) everywhere."""
        audience = Audience(firm_id=0, all_staff=False, client_account_id=None, user_ids=(user_id,))
        self._broker.publish(BusEvent(type=EVENT_TYPE, event_id=None, audience=audience, data={"match": match}))


def close(session: Session) -> None:
    session.abort(CloseCode.REVOKED, REASON)


async def sweep(hub: Hub, live_credentials: LiveCredentials) -> int:
    """Close this process's sessions whose credentials stopped working though no revocation came
    (lost on the bus while Redis was down, or from a CLI without Redis). Returns how many."""
    sessions = hub.sessions()
    live = await live_credentials({s.credential for s in sessions})
    revoked = [s for s in sessions if s.credential not in live]
    for session in revoked:
        close(session)
    return len(revoked)
