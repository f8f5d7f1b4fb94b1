"""The ``chatd`` command: serve, migrate, demo, and creating firms, users and tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec

from chatd import errors
from chatd.app import build_services, create_app
from chatd.clock import SystemClock
from chatd.config import ConfigError, Settings
from chatd.logcontext import configure_logging
from chatd.server import serve
from chatd.services.context import Services
from protocol.values import BotScope, Role, format_time
from storage import Database

DEMO_FIRM = "Demo Accounting"


@dataclass(frozen=True)
class DemoLogin:
    role: Role
    name: str
    email: str


DEMO_USERS = (
    DemoLogin(Role.OWNER, "Alice Martin", "alice@demo.chatd.local"),
    DemoLogin(Role.STAFF, "Bruno Petit", "bruno@demo.chatd.local"),
    DemoLogin(Role.CLIENT, "Claire Dubois", "claire@demo.chatd.local"),
    DemoLogin(Role.CLIENT, "David Leroy", "david@demo.chatd.local"),
)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging()
    try:
        settings = Settings.from_env()
        command: Callable[[argparse.Namespace, Settings], int] = args.command
        return command(args, settings)
    except (ConfigError, errors.ChatdError) as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatd", description="chatd: real-time messaging for firms and clients")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace, Settings], int], help: str
    ) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help, description=help)
        cmd.set_defaults(command=handler)
        return cmd

    for name, handler, text in (
        ("serve", _serve, "run the server"),
        ("demo", _demo, "create a demo firm, print its logins, and serve"),
    ):
        cmd = command(name, handler, text)
        cmd.add_argument("--host", default="127.0.0.1")
        cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    command("migrate", _migrate, "bring the database schema up to date")

    firm = command("create-firm", _create_firm, "create a firm (tenant)")
    firm.add_argument("--name", required=True)
    user = command("create-user", _create_user, "create a user of a firm")
    user.add_argument("--firm", type=int, required=True)
    user.add_argument("--email", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--role", required=True, choices=[r.value for r in Role])
    user.add_argument("--password", help="omit for users who only use API tokens (bots)")
    user.add_argument("--client-account", type=int, help="for a client: join this client account")
    user.add_argument(
        "--bot-scope",
        choices=[s.value for s in BotScope],
        help="for a bot: the threads it is added to (default), or every thread of the firm",
    )
    user.add_argument("--read-only", action="store_true", help="for a bot: may read, never write")
    token = command("create-token", _create_token, "create an API token for a user (shown once)")
    token.add_argument("--user", type=int, required=True)
    token.add_argument("--label", default="")
    token.add_argument("--expires-days", type=int, help="the token stops working after this many days")
    revoke = command("revoke-token", _revoke_token, "revoke an API token")
    revoke.add_argument("--id", type=int, required=True)
    deactivate = command(
        "deactivate-user", _deactivate_user, "deactivate a user: logins, tokens and open sockets stop working"
    )
    deactivate.add_argument("--user", type=int, required=True)
    deactivate.add_argument("--reactivate", action="store_true", help="let the user back in (log in again)")
    for cmd in (firm, user, token, revoke, deactivate):
        cmd.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    serve(create_app(settings), settings, args.host, args.port)
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> None:
        db = Database(settings.database_url, timeout_s=settings.db_timeout_s)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(run())
    print("database is up to date")
    return 0


def _with_services(settings: Settings, work: Callable[[Services], Awaitable[Any]]) -> Any:
    """Run ``work`` against the same services the server uses, then shut them down."""

    async def run() -> Any:
        svc = build_services(settings, SystemClock())
        try:
            await svc.db.migrate()
            await svc.hub.start()
            await svc.broker.start(svc.hub)
            return await work(svc)
        finally:
            await svc.broker.stop()
            await svc.hub.stop()
            await svc.db.dispose()

    return asyncio.run(run())


def _print(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(msgspec.to_builtins(data)) if args.json else text)


def _create_firm(args: argparse.Namespace, settings: Settings) -> int:
    firm_id = _with_services(settings, lambda s: s.directory.create_firm(args.name))
    _print(args, {"id": firm_id, "name": args.name}, f"created firm {firm_id}: {args.name}")
    return 0


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    user = _with_services(
        settings,
        lambda s: s.directory.create_user(
            firm_id=args.firm,
            email=args.email,
            name=args.name,
            role=Role(args.role),
            password=args.password,
            client_account_id=args.client_account,
            bot_scope=BotScope(args.bot_scope) if args.bot_scope else None,
            read_only=args.read_only,
        ),
    )
    _print(args, msgspec.to_builtins(user), f"created {user.role.value} {user.id}: {user.name} <{user.email}>")
    return 0


def _create_token(args: argparse.Namespace, settings: Settings) -> int:
    expires_at = None
    if args.expires_days is not None:
        expires_at = SystemClock().now() + timedelta(days=args.expires_days)
    token_id, token = _with_services(settings, lambda s: s.directory.create_token(args.user, args.label, expires_at))
    _print(
        args,
        {"id": token_id, "user_id": args.user, "token": token, "expires_at": expires_at and format_time(expires_at)},
        f"token {token_id} for user {args.user} (shown once, keep it secret):\n{token}",
    )
    return 0


def _revoke_token(args: argparse.Namespace, settings: Settings) -> int:
    user_id = _with_services(settings, lambda s: s.directory.revoke_token(args.id))
    _print(args, {"id": args.id, "user_id": user_id, "revoked": True}, f"revoked token {args.id}")
    return 0


def _deactivate_user(args: argparse.Namespace, settings: Settings) -> int:
    active = bool(args.reactivate)
    _with_services(settings, lambda s: s.team.set_active(args.user, active))
    state = "reactivated" if active else "deactivated"
    _print(args, {"id": args.user, "active": active}, f"{state} user {args.user}")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    logins = _with_services(settings, _seed_demo)
    url = f"http://{args.host}:{args.port}/"
    print(f"\nchatd demo firm {DEMO_FIRM!r} is serving at {url}\n")
    width = max(len(login.email) for login, _ in logins)
    for login, password in logins:
        print(f"  {login.role.value:<7} {login.name:<15} {login.email:<{width}}  password: {password}")
    client = next(login for login, _ in logins if login.role is Role.CLIENT)
    print(
        f"\nIn a browser: open {url} as staff in one window and as a client in a private window.\n"
        f"Or chat from a terminal (one per user):\n"
        f"  .venv/bin/python examples/terminal_chat.py --url {url.rstrip('/')} --email {client.email} --password …\n"
        f"WebSocket: ws://{args.host}:{args.port}/ws   HTTP API: {url}api/   Protocol: docs/protocol.md\n"
        "\nPasswords are new each time `chatd demo` starts. Ctrl+C stops the server.\n",
        flush=True,
    )
    serve(create_app(settings), settings, args.host, args.port)
    return 0


async def _seed_demo(svc: Services) -> list[tuple[DemoLogin, str]]:
    """Create the demo firm once; on later runs only give its users new passwords."""
    directory = svc.directory
    firm_id = await directory.find_firm(DEMO_FIRM)
    logins = [(login, secrets.token_urlsafe(9)) for login in DEMO_USERS]
    if firm_id is not None:
        for login, password in logins:
            found = await directory.find_account(login.email)
            if found is not None:
                await directory.set_password(found.user.id, password)
        return logins
    firm_id = await directory.create_firm(DEMO_FIRM)
    users = [
        await directory.create_user(
            firm_id=firm_id, email=login.email, name=login.name, role=login.role, password=password
        )
        for login, password in logins
    ]
    owner = await directory.account(users[0].id)
    assert owner is not None
    await svc.conversations.create_thread(
        owner,
        subject="Welcome to your client space",
        body="Hello Claire, this is where we talk about your files. Ask us anything here.",
        client_msg_id="demo-welcome",
        client_account_id=users[2].client_account_id,
        participants=[users[1].id],
    )
    return logins
