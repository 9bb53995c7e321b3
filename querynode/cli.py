"""`querynode` command line: serve the node, or run the whole demo on embedded defaults."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from querynode.config import Settings, load_settings
from querynode.observability.logs import configure as configure_logging


async def run_node(settings: Settings, *, ready_message: str = "") -> None:
    from querynode.api.grpc.servicer import start_grpc_server
    from querynode.api.http.app import create_app
    from querynode.node import Node
    from querynode.security.accounts import AccountStore, accounts_path
    from querynode.observability import metrics
    from aiohttp import web

    node = await Node.start(settings)
    grpc_server, grpc_port = await start_grpc_server(
        node.hub, settings.grpc.host, settings.grpc.port, anonymous_caller=settings.anonymous_caller,
        audit_watch=node.audit_watch)
    runner = web.AppRunner(create_app(
        node.hub, anonymous_caller=settings.anonymous_caller,
        accounts=AccountStore(accounts_path(settings.data_dir))), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.http.host, settings.http.port).start()
    http_port = runner.addresses[0][1]
    print(f"querynode gRPC  {settings.grpc.host}:{grpc_port}  (querynode.v1.QueryNode)", flush=True)
    print(f"querynode HTTP  http://{settings.http.host}:{http_port}  "
          f"(POST /api/v1/identity/verify, GET /healthz /readyz /metrics, GET /api/v1/openapi.json)", flush=True)
    print(f"audit trail     {settings.audit_path()}", flush=True)
    if ready_message:
        print(ready_message, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await grpc_server.stop(grace=2)
        await runner.cleanup()
        await node.close()
        metrics.process_exited(os.getpid())


def _secret_file(path: Path, nbytes: int = 32) -> Path:
    """Create a random hex secret (mode 0600) on first use; keep it afterwards."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(nbytes) + "\n")
    return path


def demo(args: argparse.Namespace) -> None:
    """Mock departments in a child process and the node in this one, on embedded defaults."""
    data_dir = Path(os.environ.get("QUERYNODE_DATA_DIR", ".querynode"))
    node_key = _secret_file(data_dir / "secrets" / "node.key")
    dept_secret = _secret_file(data_dir / "secrets" / "departments.secret")
    mocks = subprocess.Popen([sys.executable, "-m", "mocks", "--secret-file", str(dept_secret)],
                             stdout=subprocess.PIPE, text=True)
    try:
        _wait_for_mocks(mocks)
        settings = Settings(data_dir=data_dir, node_key_file=node_key)
        for dept in settings.departments.values():
            if dept.secret is None and dept.secret_file is None:
                dept.secret_file = dept_secret
        clerk_password = asyncio.run(create_demo_clerk(data_dir))
        clerk_text = (f"\nclerk pages     /login  user demo-clerk  password {clerk_password}  (shown once)"
                      if clerk_password else "\nclerk pages     /login  user demo-clerk (password shown at its first run)")
        asyncio.run(run_node(settings, ready_message=_samples_text() + clerk_text))
    finally:
        mocks.terminate()
        mocks.wait(timeout=10)


def _wait_for_mocks(mocks: subprocess.Popen) -> None:
    assert mocks.stdout is not None
    for line in mocks.stdout:
        print(line, end="", flush=True)
        if line.startswith("mocks ready"):
            return
    raise SystemExit("mock departments did not start")


def _samples_text() -> str:
    samples = Path(__file__).resolve().parent.parent / "mocks" / "samples.json"
    if not samples.exists():
        return ""
    import json

    data = json.loads(samples.read_text(encoding="utf-8"))["identity"]
    lines = ["sample persons (synthetic; see mocks/samples.json):"]
    for verdict, people in data.items():
        for p in people:
            lines.append(f"  {verdict:<14} {p['name']:<10} {p['id_number']}   ({p['label']})")
    lines.append('try: curl -s localhost:8080/api/v1/identity/verify -H "Content-Type: application/json" -d '
                 "'{\"context\":{\"case_number\":\"2026-0001\",\"operator_id\":\"clerk01\",\"purpose\":\"转移登记\"},"
                 f"\"id_number\":\"{data['match'][0]['id_number']}\",\"name\":\"{data['match'][0]['name']}\"}}'")
    return "\n".join(lines)


def serve(args: argparse.Namespace) -> None:
    asyncio.run(run_node(load_settings(args.config)))


def users(args: argparse.Namespace) -> None:
    """Clerk accounts: add, passwd, disable, list (there are no default accounts)."""
    from querynode.security.accounts import AccountError

    try:
        asyncio.run(_users(args, load_settings(args.config)))
    except AccountError as exc:
        raise SystemExit(exc.message) from None


def _read_password(args: argparse.Namespace) -> str:
    import getpass

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("新密码: ")
    if getpass.getpass("再次输入: ") != first:
        raise SystemExit("两次输入的密码不一致")
    return first


async def _users(args: argparse.Namespace, settings: Settings) -> None:
    from querynode.security.accounts import ROLE_NAMES_ZH, AccountStore, Role, accounts_path, totp_uri

    store = AccountStore(accounts_path(settings.data_dir))
    await store.open()
    try:
        if args.users_command == "add":
            secret = await store.add_user(args.username, _read_password(args), Role(args.role), totp=args.totp)
            print(f"created {args.username} ({args.role})")
            if secret:
                print(f"TOTP secret (shown once; add it to an authenticator app): {secret}")
                print(totp_uri(secret, args.username))
        elif args.users_command == "passwd":
            await store.set_password(args.username, _read_password(args))
            print(f"password of {args.username} changed")
        elif args.users_command == "disable":
            await store.disable(args.username)
            print(f"{args.username} disabled; their sessions are ended")
        else:
            for user in await store.users():
                flags = ["disabled"] if user.disabled else []
                flags += ["totp"] if user.totp_enabled else []
                flags += ["locked"] if user.locked_until else []
                print(f"{user.username:<20} {user.role.value:<14} {ROLE_NAMES_ZH[user.role]:<6} "
                      f"password set {user.password_changed_at:%Y-%m-%d}  {' '.join(flags)}")
    finally:
        await store.close()


async def create_demo_clerk(data_dir: Path) -> str:
    """The demo's clerk `demo-clerk` with a random password, printed once; '' if it exists."""
    from querynode.security.accounts import AccountStore, Role, UserExists, accounts_path

    password = "Qn7-" + secrets.token_urlsafe(12)
    store = AccountStore(accounts_path(data_dir))
    await store.open()
    try:
        await store.add_user("demo-clerk", password, Role.CLERK)
    except UserExists:
        return ""
    finally:
        await store.close()
    return password


def main(argv: list[str] | None = None) -> None:
    configure_logging(logging.INFO)
    parser = argparse.ArgumentParser(prog="querynode", description="Precise cross-department query node")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the node with a configuration file and environment")
    p_serve.add_argument("--config", help="YAML settings file (else QUERYNODE_CONFIG)")
    p_serve.set_defaults(func=serve)
    p_demo = sub.add_parser("demo", help="run mock departments and the node on embedded defaults")
    p_demo.set_defaults(func=demo)
    p_users = sub.add_parser("users", help="clerk accounts for the web pages").add_subparsers(
        dest="users_command", required=True)
    p_add = p_users.add_parser("add", help="create an account (password asked twice, or --password-stdin)")
    p_add.add_argument("username")
    p_add.add_argument("--role", choices=["clerk", "auditor", "administrator"], default="clerk")
    p_add.add_argument("--totp", action="store_true", help="require a TOTP code at login (always for administrators)")
    p_passwd = p_users.add_parser("passwd", help="set a new password")
    p_passwd.add_argument("username")
    p_disable = p_users.add_parser("disable", help="disable an account and end its sessions")
    p_disable.add_argument("username")
    p_list = p_users.add_parser("list", help="list accounts")
    for p in (p_add, p_passwd):
        p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    for p in (p_add, p_passwd, p_disable, p_list):
        p.add_argument("--config", help="YAML settings file (for the data dir)")
        p.set_defaults(func=users)
    args = parser.parse_args(argv)
    args.func(args)
