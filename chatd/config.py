"""Settings, read once from ``CHATD_*`` environment variables, with single-machine defaults."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    """A setting that cannot be used; the message names the variable."""


class Secret:
    """A string that does not show itself in reprs, logs or tracebacks."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: Secret
    allowed_origins: frozenset[str]
    max_frame_bytes: int = 64 * 1024
    max_body_chars: int = 10_000
    requests_per_second: float = 20.0
    heartbeat_s: int = 20
    event_retention_days: int = 30
    # Uploads never sent with a message are removed this long after they were made.
    unsent_upload_hours: int = 24
    max_replay_events: int = 10_000
    outbound_queue: int = 2_000
    # A session with events waiting is closed (4001) once its socket has taken no frame this long.
    send_stall_s: float = 10.0
    resume_grace_s: float = 1.0
    # On shutdown, sessions are closed (1001) at most this many a second, so their clients do not
    # all reconnect to the other processes in the same instant (spread over 5 s at most).
    drain_rate: int = 2000
    session_days: int = 30
    # Password attempts (logins, password changes) per client address: a burst of this many, then
    # this many a minute.
    login_attempts_per_minute: int = 30
    # How often each process re-checks its sessions' credentials, in case a revocation was lost.
    revalidate_s: int = 30
    cookie_secure: bool = False
    # permessage-deflate: off unless asked for (compressing attacker-chosen text next to secrets
    # invites CRIME/BREACH-style guessing, and inflating costs memory per socket).
    ws_compression: bool = False
    # Tests only: a file holding seconds to add to the system time (chatd.clock.OffsetClock).
    clock_file: Path | None = None
    # How long a silent Redis may go unanswered (ping, command, connect) before chatd reconnects.
    redis_health_s: float = 5.0
    # How long PostgreSQL may keep a request waiting (connect, one statement, a pooled connection)
    # before it is answered ``unavailable``: a silent server fails fast instead of hanging.
    db_timeout_s: float = 10.0
    # How often the scheduler looks for due work.
    scheduler_tick_s: float = 0.2
    # Notifications: email over SMTP, SMS through a provider's HTTP API; off when not configured.
    smtp_url: str | None = None
    mail_from: str = "chatd <chatd@localhost>"
    public_url: str = "http://localhost:8000"
    sms_url: str | None = None
    sms_token: Secret | None = None
    sms_from: str = "chatd"
    # Web push: the VAPID key (else one is made and kept in the database), the contact push services
    # see (mailto: or https:), and whether subscriptions may point at loopback or private addresses.
    vapid_private_key: Secret | None = None
    vapid_subject: str = "mailto:chatd@localhost"
    push_allow_private: bool = False
    # Notifications arriving within this window after the first go out in one email.
    notify_email_window_s: int = 120
    # Attachments (docs/composing.md).
    max_upload_bytes: int = 25 * 1024 * 1024
    max_attachments_per_message: int = 10
    max_zip_files: int = 100
    max_zip_bytes: int = 200 * 1024 * 1024
    max_zip_ratio: int = 100
    # Outgoing webhooks (docs/bots.md): loopback and private targets only when allowed.
    webhook_allow_private: bool = False
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 8
    webhook_disable_after: int = 10
    webhook_retry_base_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("CHATD_DATA_DIR", "chatd-data")).resolve()
        return cls(
            data_dir=data_dir,
            database_url=env.get("CHATD_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'chatd.db'}"),
            redis_url=env.get("CHATD_REDIS_URL") or None,
            secret_key=Secret(env.get("CHATD_SECRET_KEY") or _stored_secret(data_dir)),
            allowed_origins=frozenset(
                o.strip().rstrip("/") for o in env.get("CHATD_ALLOWED_ORIGINS", "").split(",") if o.strip()
            ),
            max_frame_bytes=_int(env, "CHATD_MAX_FRAME_BYTES", 64 * 1024),
            max_body_chars=_int(env, "CHATD_MAX_BODY_CHARS", 10_000),
            requests_per_second=float(_int(env, "CHATD_REQUESTS_PER_SECOND", 20)),
            heartbeat_s=_int(env, "CHATD_HEARTBEAT_S", 20),
            event_retention_days=_int(env, "CHATD_EVENT_RETENTION_DAYS", 30),
            unsent_upload_hours=_int(env, "CHATD_UNSENT_UPLOAD_HOURS", 24),
            max_replay_events=_int(env, "CHATD_MAX_REPLAY_EVENTS", 10_000),
            outbound_queue=_int(env, "CHATD_OUTBOUND_QUEUE", 2_000),
            send_stall_s=_int(env, "CHATD_SEND_STALL_MS", 10_000) / 1000,
            session_days=_int(env, "CHATD_SESSION_DAYS", 30),
            login_attempts_per_minute=_int(env, "CHATD_LOGIN_ATTEMPTS_PER_MINUTE", 30),
            revalidate_s=_int(env, "CHATD_REVALIDATE_S", 30),
            resume_grace_s=_int(env, "CHATD_RESUME_GRACE_MS", 1000) / 1000,
            drain_rate=_int(env, "CHATD_DRAIN_RATE", 2000),
            cookie_secure=env.get("CHATD_COOKIE_SECURE", "") in ("1", "true", "yes"),
            ws_compression=env.get("CHATD_WS_COMPRESSION", "") in ("1", "true", "yes"),
            clock_file=Path(env["CHATD_CLOCK_FILE"]) if env.get("CHATD_CLOCK_FILE") else None,
            redis_health_s=_int(env, "CHATD_REDIS_HEALTH_MS", 5000) / 1000,
            db_timeout_s=_int(env, "CHATD_DB_TIMEOUT_MS", 10_000) / 1000,
            scheduler_tick_s=_int(env, "CHATD_SCHEDULER_TICK_MS", 200) / 1000,
            smtp_url=env.get("CHATD_SMTP_URL") or None,
            mail_from=env.get("CHATD_MAIL_FROM") or "chatd <chatd@localhost>",
            public_url=(env.get("CHATD_PUBLIC_URL") or "http://localhost:8000").rstrip("/"),
            sms_url=env.get("CHATD_SMS_URL") or None,
            sms_token=Secret(env["CHATD_SMS_TOKEN"]) if env.get("CHATD_SMS_TOKEN") else None,
            sms_from=env.get("CHATD_SMS_FROM") or "chatd",
            vapid_private_key=Secret(env["CHATD_VAPID_PRIVATE_KEY"]) if env.get("CHATD_VAPID_PRIVATE_KEY") else None,
            vapid_subject=env.get("CHATD_VAPID_SUBJECT") or "mailto:chatd@localhost",
            push_allow_private=env.get("CHATD_PUSH_ALLOW_PRIVATE", "") in ("1", "true", "yes"),
            notify_email_window_s=_int(env, "CHATD_NOTIFY_EMAIL_WINDOW_S", 120),
            max_upload_bytes=_int(env, "CHATD_MAX_UPLOAD_BYTES", 25 * 1024 * 1024),
            max_attachments_per_message=_int(env, "CHATD_MAX_ATTACHMENTS", 10),
            max_zip_files=_int(env, "CHATD_MAX_ZIP_FILES", 100),
            max_zip_bytes=_int(env, "CHATD_MAX_ZIP_BYTES", 200 * 1024 * 1024),
            max_zip_ratio=_int(env, "CHATD_MAX_ZIP_RATIO", 100),
            webhook_allow_private=env.get("CHATD_WEBHOOK_ALLOW_PRIVATE", "") in ("1", "true", "yes"),
            webhook_timeout_s=_int(env, "CHATD_WEBHOOK_TIMEOUT_MS", 10_000) / 1000,
            webhook_max_attempts=_int(env, "CHATD_WEBHOOK_MAX_ATTEMPTS", 8),
            webhook_disable_after=_int(env, "CHATD_WEBHOOK_DISABLE_AFTER", 10),
            webhook_retry_base_s=_int(env, "CHATD_WEBHOOK_RETRY_BASE_S", 10),
        )


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{key} must be positive, not {value}")
    return value


def _stored_secret(data_dir: Path) -> str:
    """The data dir's own secret key, made on first use, so a single machine needs no setup.

    Written to a temporary file and linked into place: processes starting together all read the
    same complete key, whichever of them made it.
    """
    path = data_dir / "secret_key"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            os.unlink(temporary)
    return path.read_text().strip()
