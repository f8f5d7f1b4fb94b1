"""Who is calling: password logins with a signed session cookie, and API tokens for bots.

Secrets are never stored: login sessions and API tokens are 256 random bits kept as SHA-256 hashes
(a slow hash adds nothing at that entropy); passwords are argon2id.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from chatd import errors
from chatd.clock import Clock
from chatd.coalesce import Batched, SharedRead
from chatd.config import Settings
from chatd.revocations import LOGINS, Revocations, login_credential, token_credential, token_id_of
from storage import Database
from storage import directory as store
from storage.directory import Account

logger = logging.getLogger(__name__)

SESSION_COOKIE = "chatd_session"
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
TOKEN_PREFIX = "chatd_"  # noqa: S105 (a recognisable prefix, not a secret)
MIN_PASSWORD_CHARS = 8
# Credentials checked per query (bound parameters stay well under every database's limit).
_CHUNK = 500


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Passwords:
    """argon2id with argon2-cffi's defaults (above OWASP's minimum); runs off the event loop."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        # Verified against when the email is unknown, so both failures take the same time.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await run_in_threadpool(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return await run_in_threadpool(self._hasher.verify, password_hash or self._decoy, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True, slots=True)
class Caller:
    account: Account
    # A browser login (which needs an Origin check), or an API token.
    via_cookie: bool
    # Which login session or token it is (chatd.revocations).
    credential: str


class Auth:
    def __init__(
        self, db: Database, settings: Settings, clock: Clock, passwords: Passwords, revocations: Revocations
    ) -> None:
        self._db = db
        self._revocations = revocations
        self._settings = settings
        self._clock = clock
        self._passwords = passwords
        self._signer = URLSafeSerializer(settings.secret_key.reveal(), salt="chatd.session")
        # A reconnect storm: a token's sockets (tabs, devices) share its lookup, and the sessions
        # opening together have their credentials re-checked in one query.
        self._token_lookups: SharedRead[str, Caller | None] = SharedRead()
        self._new_sessions: Batched[str, bool] = Batched(self._live_flags)

    async def login(self, email: str, password: str) -> tuple[Account, str] | None:
        """Check the password; on success open a login session and return its cookie value."""
        async with self._db.read() as conn:
            account = await store.find_account_by_email(conn, email.strip().lower())
        stored_hash = account.password_hash if account else None
        if not await self._passwords.verify(stored_hash, password) or account is None or not account.active:
            return None
        if stored_hash and self._passwords.needs_rehash(stored_hash):
            new_hash = await self._passwords.hash(password)
            async with self._db.write() as conn:
                await store.set_password_hash(conn, account.user.id, new_hash)
        return account, await self._open_login(account.user.id)

    async def change_password(self, account: Account, current: str, new: str) -> str | None:
        """Set a new password if ``current`` is right: every login session ends (other browsers
        must log in again) and a new one is opened for the caller; returns its cookie value."""
        async with self._db.read() as conn:
            stored = await store.get_account(conn, account.user.id)
        if stored.password_hash is None or not await self._passwords.verify(stored.password_hash, current):
            return None
        if len(new) < MIN_PASSWORD_CHARS:
            raise errors.BadRequest(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
        new_hash = await self._passwords.hash(new)
        async with self._db.write() as conn:
            await store.set_password_hash(conn, account.user.id, new_hash)
            await store.delete_login_sessions(conn, account.user.id)
        self._revocations.revoke(account.user.id, LOGINS)
        return await self._open_login(account.user.id)

    async def _open_login(self, user_id: int) -> str:
        secret = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._db.write() as conn:
            await store.create_login_session(
                conn, user_id, digest(secret), now, now + timedelta(days=self._settings.session_days)
            )
        return self._signer.dumps(secret)

    async def logout(self, cookie: str) -> None:
        """End the cookie's login session, and close the sockets it opened."""
        caller = await self.from_cookie(cookie)
        if caller is not None:
            async with self._db.write() as conn:
                await store.delete_login_session(conn, caller.credential.removeprefix(LOGINS))
            self._revocations.revoke(caller.account.user.id, caller.credential)

    async def from_cookie(self, cookie: str) -> Caller | None:
        secret = self._unsign(cookie)
        if secret is None:
            return None
        async with self._db.read() as conn:
            account = await store.account_for_login_session(conn, digest(secret), self._clock.now())
        if account is None or not account.active:
            return None
        return Caller(account, True, login_credential(digest(secret)))

    async def from_token(self, token: str) -> Caller | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        hashed = digest(token)
        return await self._token_lookups.get(hashed, lambda: self._caller_for(hashed))

    async def _caller_for(self, hashed: str) -> Caller | None:
        now = self._clock.now()
        async with self._db.read() as conn:
            found = await store.account_for_token(conn, hashed, now)
        if found is None or not found[2].active:
            return None
        token_id, last_used, account = found
        # Record use at most once a minute: a write per bot request would queue on SQLite's lock.
        if last_used is None or now - last_used > TOKEN_TOUCH_INTERVAL:
            async with self._db.write() as conn:
                await store.touch_api_token(conn, token_id, now)
        return Caller(account, False, token_credential(token_id))

    async def authenticate(self, headers: Headers, cookies: dict[str, str]) -> Caller | None:
        """The caller: a bearer token if the request has one, else the session cookie."""
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer":
                return None
            return await self.from_token(token.strip())
        cookie = cookies.get(SESSION_COOKIE)
        if cookie:
            return await self.from_cookie(cookie)
        return None

    async def still_live(self, credential: str) -> bool:
        """Whether a new session's credential still lets its user in; checked together with those
        of the sessions opening at the same time (one query for a reconnect storm)."""
        return await self._new_sessions.call(credential)

    async def _live_flags(self, credentials: list[str]) -> list[bool]:
        live = await self.live_credentials(credentials)
        return [credential in live for credential in credentials]

    async def live_credentials(self, credentials: Collection[str]) -> set[str]:
        """Those of the credentials (chatd.revocations) that still let their user in."""
        logins = [c.removeprefix(LOGINS) for c in credentials if c.startswith(LOGINS)]
        tokens = [token_id_of(c) for c in credentials if not c.startswith(LOGINS)]
        now = self._clock.now()
        live: set[str] = set()
        async with self._db.read() as conn:
            for start in range(0, len(logins), _CHUNK):
                found = await store.live_login_sessions(conn, logins[start : start + _CHUNK], now)
                live.update(login_credential(h) for h in found)
            for start in range(0, len(tokens), _CHUNK):
                found_ids = await store.live_api_tokens(conn, tokens[start : start + _CHUNK], now)
                live.update(token_credential(i) for i in found_ids)
        return live

    def origin_allowed(self, origin: str | None, host: str | None, secure: bool) -> bool:
        """Exact match against the allowlist, or the server's own origin."""
        if not origin:
            return False
        if origin in self._settings.allowed_origins:
            return True
        return host is not None and origin == f"{'https' if secure else 'http'}://{host}"

    def _unsign(self, cookie: str) -> str | None:
        try:
            secret = self._signer.loads(cookie)
        except BadSignature:
            return None
        return secret if isinstance(secret, str) else None


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)
