"""`querynode` command line: serve the node, or run the whole demo on embedded defaults."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from querynode.config import Settings, load_settings
from querynode.observability.logs import configure as configure_logging


async def run_node(settings: Settings, *, ready_message: str = "", worker: bool = False) -> None:
    """Serve until SIGTERM/SIGINT, then drain: health NOT_SERVING and /readyz 503 for
    `drain_seconds` while calls are still answered (a second signal ends that early), then
    stop both servers, giving calls in flight `default_deadline_seconds`. A `worker` of
    `serve --workers N` shares its ports (SO_REUSEPORT), ignores SIGINT (its parent forwards
    signals as SIGTERM) and stops when its parent is gone."""
    from querynode.api.grpc.servicer import start_grpc_server
    from querynode.api.http.app import create_app
    from querynode.api.http.monitoring import AUDIT_WATCH_KEY
    from querynode.node import Node
    from querynode import workers
    from querynode.security.accounts import AccountStore, accounts_path
    from querynode.security.authentication import authenticator_for, server_credentials
    from querynode.security.field_crypto import cipher_for
    from querynode.api.http import drill_admin, json_api
    from querynode.api.http.tls_site import http_site
    from aiohttp import web

    sec = settings.security
    authenticator = authenticator_for(settings)
    credentials = server_credentials(sec.grpc_auth, sec.tls_cert_file, sec.tls_key_file, sec.client_ca_file)
    node = await Node.start(settings)
    grpc_server, grpc_port = await start_grpc_server(
        node.hub, settings.grpc.host, settings.grpc.port, anonymous_caller=settings.anonymous_caller,
        cases=node.cases, audit_watch=node.audit_watch, authenticator=authenticator, credentials=credentials,
        reuse_port=worker)
    app = create_app(node.hub, anonymous_caller=settings.anonymous_caller, cases=node.cases,
                     accounts=AccountStore(accounts_path(settings.data_dir), cipher_for(settings)),
                     trusted_proxies=sec.trusted_proxies)
    app[json_api.AUTH_KEY] = authenticator
    app[AUDIT_WATCH_KEY] = node.audit_watch
    drill_admin.add_routes(app, drill_admin.DrillAdmin(settings, node.faults, authenticator, worker, grpc_port))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.default_deadline_seconds)
    await runner.setup()
    await http_site(runner, settings.http.host, settings.http.port, http_ssl_context(settings),
                    reuse_port=worker or None).start()
    http_port = runner.addresses[0][1]
    print(f"querynode gRPC  {settings.grpc.host}:{grpc_port}  (querynode.v1.QueryNode)", flush=True)
    print(f"querynode HTTP  {'https' if sec.http_tls else 'http'}://{settings.http.host}:{http_port}  "
          f"(POST /api/v1/identity/verify, GET /healthz /readyz /metrics, GET /api/v1/openapi.json)", flush=True)
    print(f"audit trail     {settings.audit.backend}: "
          f"{settings.audit_path() if settings.audit.backend == 'sqlite' else settings.audit.postgres_table}", flush=True)
    print(f"callers         gRPC {sec.grpc_auth}, JSON API {sec.http_auth}; "
          f"{len(authenticator.tokens)} token(s) in {sec.tokens_file or settings.data_dir / 'secrets' / 'tokens.json'}",
          flush=True)
    if node.faults is not None:
        print(f"DRILL MODE      fault switches at /_admin/faults for {', '.join(settings.drill.admin_callers)} "
              f"(querynode drill; never on a production node)", flush=True)
    if node.plain_http_departments:
        print(f"WARNING         plain HTTP to: {', '.join(node.plain_http_departments)} (allow_plain_http)", flush=True)
    if ready_message:
        print(ready_message, flush=True)
    stop: asyncio.Queue[int] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM,) if worker else (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.put_nowait, sig)
    orphan_watch = asyncio.create_task(workers.watch_parent(stop)) if worker else None
    if worker:  # only now: the parent may forward a signal as soon as it reads this line
        print(f"{workers.READY_LINE} pid {os.getpid()}", flush=True)
    try:
        await stop.get()
        logging.getLogger("querynode.serve").info("draining for %.1f s, then stopping", settings.drain_seconds)
        await node.audit_watch.drain()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.drain_seconds):
                await stop.get()
    finally:
        if orphan_watch is not None:
            orphan_watch.cancel()
        await asyncio.gather(grpc_server.stop(grace=settings.default_deadline_seconds), runner.cleanup())
        await node.close()


def http_ssl_context(settings: Settings):
    """The HTTP door's TLS context (security.http_tls), or None for plain HTTP."""
    from querynode.security.tls import server_ssl_context

    sec = settings.security
    if not sec.http_tls:
        return None
    if sec.tls_cert_file is None or sec.tls_key_file is None:
        raise SystemExit("security.http_tls needs security.tls_cert_file and security.tls_key_file")
    return server_ssl_context(sec.tls_cert_file, sec.tls_key_file)


def _secret_file(path: Path, nbytes: int = 32) -> Path:
    """Create a random hex secret (mode 0600) on first use; keep it afterwards."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(nbytes) + "\n")
    return path


# What `querynode demo` keeps in its data folder, which the other subcommands then find there.
DEMO_NODE_KEY = Path("secrets") / "node.key"
DEMO_FIELD_KEYS = Path("secrets") / "field.keys"
DEMO_DRILL_TOKEN = Path("secrets") / "drill-admin.token"


@dataclass
class DemoSetup:
    settings: Settings
    pki: Any
    token: str
    department_secret: Path


def prepare_demo(data_dir: Path) -> DemoSetup:
    """The demo's data folder, created on first run: node key, department secret, throw-away PKI,
    field keys, the JSON API token; and the node's settings on it (HTTPS to the mock departments)."""
    node_key = _secret_file(data_dir / DEMO_NODE_KEY)
    dept_secret = _secret_file(data_dir / "secrets" / "departments.secret")
    security, pki, token = _demo_security(data_dir)
    settings = Settings(data_dir=data_dir, node_key_file=node_key, security=security)
    settings.drill.enabled = True  # the demo is where a centre rehearses: `querynode drill` works on it
    _token_file(data_dir / DEMO_DRILL_TOKEN, security.tokens_file, settings.drill.admin_callers[0])
    for dept in settings.departments.values():
        if dept.secret is None and dept.secret_file is None:
            dept.secret_file = dept_secret
        dept.url = dept.url.replace("http://", "https://", 1)
        dept.ca_file = dept.ca_file or pki.ca_cert
    return DemoSetup(settings, pki, token, dept_secret)


def admin_settings(config_file: str | None) -> Settings:
    """Settings for the admin subcommands (users, token, audit, record): the configuration as
    `serve` reads it, and where it names no node key or field keys, those the demo keeps in the
    data folder, so that after `make run` they work from the same folder with no environment."""
    settings = load_settings(config_file)
    node_key, field_keys = settings.data_dir / DEMO_NODE_KEY, settings.data_dir / DEMO_FIELD_KEYS
    if settings.node_key is None and settings.node_key_file is None and node_key.exists():
        settings.node_key_file = node_key
    sec = settings.security
    if not sec.field_keys and sec.field_keys_file is None and field_keys.exists():
        sec.field_keys_file = field_keys
    return settings


def demo(args: argparse.Namespace) -> None:
    """Mock departments in a child process and the node in this one, on embedded defaults."""
    from querynode.faults import remove_stale_switches

    setup = prepare_demo(Path(os.environ.get("QUERYNODE_DATA_DIR", ".querynode")))
    remove_stale_switches(setup.settings.data_dir)
    mocks = subprocess.Popen([sys.executable, "-m", "mocks", "--secret-file", str(setup.department_secret),
                              "--tls-cert", str(setup.pki.server_cert), "--tls-key", str(setup.pki.server_key)],
                             stdout=subprocess.PIPE, text=True)
    try:
        _wait_for_mocks(mocks)
        clerk_password = asyncio.run(create_demo_clerk(setup.settings))
        asyncio.run(run_node(setup.settings, ready_message=_samples_text(setup.token) + "\n"
                             + _demo_security_text(setup.pki) + "\n" + clerk_text(clerk_password)))
    finally:
        mocks.terminate()
        mocks.wait(timeout=10)


def clerk_text(new_password: str) -> str:
    """The start-up line about the demo clerk: its password on the first run, afterwards the
    command that sets a new one."""
    if new_password:
        return f"clerk pages     /login  user demo-clerk  password {new_password}  (shown once)"
    return (f"clerk pages     /login  user demo-clerk  (password shown at its first run; "
            f"set a new one: {_program()} users passwd demo-clerk)")


def _program() -> str:
    """How to run `querynode` again from this folder: the script that started this process when
    it lies under the current folder (`make run` starts .venv/bin/querynode), else `querynode`."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "querynode" and argv0.is_file():
        with contextlib.suppress(ValueError):
            return str(argv0.absolute().relative_to(Path.cwd().absolute()))
    return "querynode"


DEMO_GRPC_CALLER = "demo-registry"
DEMO_API_CALLER = "demo-api"


def _demo_security(data_dir: Path):
    """A throw-away CA with server and client certificates, field keys and a JSON API token,
    created on first run under <data_dir>/pki and <data_dir>/secrets."""
    from querynode.config import SecuritySettings
    from querynode.security.tls import ensure_demo_pki

    pki = ensure_demo_pki(data_dir / "pki", (DEMO_GRPC_CALLER,))
    field_keys = data_dir / DEMO_FIELD_KEYS
    if not field_keys.exists():
        fd = os.open(field_keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"# key_id hexkey; the last line is the current key\nk1 {secrets.token_hex(32)}\n")
    tokens = data_dir / "secrets" / "tokens.json"
    token_file = _token_file(data_dir / "secrets" / "demo-api.token", tokens, DEMO_API_CALLER)
    security = SecuritySettings(
        grpc_auth="mtls", http_auth="token", tls_cert_file=pki.server_cert, tls_key_file=pki.server_key,
        client_ca_file=pki.ca_cert, tokens_file=tokens, field_keys_file=field_keys,
        certificate_callers=[DEMO_GRPC_CALLER])
    return security, pki, token_file.read_text().strip()


def _token_file(path: Path, tokens: Path, caller: str) -> Path:
    """A bearer token for `caller` kept in `path` (mode 0600), issued on first use."""
    from querynode.security.authentication import issue_token

    if not path.exists():
        token = issue_token(tokens, caller)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
    return path


def _demo_security_text(pki) -> str:
    return "\n".join([
        "security (throw-away demo PKI; see README ## Security):",
        f"  gRPC mutual TLS: CA {pki.ca_cert}, client certificate {pki.client_cert(DEMO_GRPC_CALLER)} "
        f"key {pki.client_key(DEMO_GRPC_CALLER)} (caller {DEMO_GRPC_CALLER!r})",
        f"  grpcurl -cacert {pki.ca_cert} -cert {pki.client_cert(DEMO_GRPC_CALLER)} "
        f"-key {pki.client_key(DEMO_GRPC_CALLER)} 127.0.0.1:50051 list",
        "  mock departments serve HTTPS with the demo CA; the node verifies them against it",
        "  more tokens: querynode token issue --caller NAME",
        f"emergency drill: {_program()} drill --report-dir {pki.folder.parent / 'drill-reports'}   (the demo runs in drill mode)",
    ])


def _wait_for_mocks(mocks: subprocess.Popen) -> None:
    assert mocks.stdout is not None
    for line in mocks.stdout:
        print(line, end="", flush=True)
        if line.startswith("mocks ready"):
            return
    raise SystemExit("mock departments did not start")


def _samples_text(token: str) -> str:
    samples = Path(__file__).resolve().parent.parent / "mocks" / "samples.json"
    if not samples.exists():
        return ""
    import json

    data = json.loads(samples.read_text(encoding="utf-8"))["identity"]
    lines = ["sample persons (synthetic; see mocks/samples.json):"]
    for verdict, people in data.items():
        for p in people:
            lines.append(f"  {verdict:<14} {p['name']:<10} {p['id_number']}   ({p['label']})")
    lines.append(f'try: curl -s localhost:8080/api/v1/identity/verify -H "Authorization: Bearer {token}" '
                 '-H "Content-Type: application/json" -d '
                 "'{\"context\":{\"case_number\":\"2026-0001\",\"operator_id\":\"clerk01\",\"purpose\":\"转移登记\"},"
                 f"\"id_number\":\"{data['match'][0]['id_number']}\",\"name\":\"{data['match'][0]['name']}\"}}'")
    return "\n".join(lines)


def serve(args: argparse.Namespace) -> None:
    """One node in this process (`--workers 1`), or a parent keeping N worker processes."""
    from querynode import workers
    from querynode.faults import remove_stale_switches

    settings = load_settings(args.config)
    if args.worker:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        asyncio.run(run_node(settings, worker=True))
        return
    remove_stale_switches(settings.data_dir)
    try:
        if args.workers > 1:
            raise SystemExit(workers.serve(settings, args.workers, args.config))
        workers.check_settings(settings, args.workers)
    except workers.WorkerSettingsError as exc:
        raise SystemExit(f"querynode serve: {exc}") from None
    workers.prepare_metrics_dir(1)
    asyncio.run(run_node(settings))


def record_verify(args: argparse.Namespace) -> None:
    """Check a saved verification record against this node's signing key (or a PEM public key)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from querynode.security.records import RecordSigner, verify_file

    if args.public_key:
        public_key = load_pem_public_key(Path(args.public_key).read_bytes())
    else:
        public_key = RecordSigner(admin_settings(args.config).read_node_key()).public_key
    ok, reason = verify_file(Path(args.file).read_bytes(), public_key)
    print(("OK: " if ok else "FAILED: ") + reason)
    raise SystemExit(0 if ok else 1)


async def _audit_command(settings: Settings, args: argparse.Namespace) -> int:
    from querynode.security.audit_store import ExportInvalid, WitnessInvalid, store_for, verify_export
    from querynode.security.blind_index import BlindIndex, identifier_digest

    store = store_for(settings, purge=args.audit_command == "purge", checkpoints=False)
    await store.open()
    try:
        if args.audit_command == "verify" and args.export:
            try:
                print(verify_export(Path(args.export), await store.anchors(), store.key))
                return 0
            except ExportInvalid as exc:
                print(f"FAILED: {exc}")
                return 1
        if args.audit_command in ("verify", "checkpoint"):
            try:
                verdict = await store.verify()
            except WitnessInvalid as exc:
                print(f"FAILED: {exc}")
                return 1
            if not verdict.ok:
                print(f"FAILED: {verdict.problem}; {verdict.records} records hold before it")
                return 1
            if args.audit_command == "checkpoint":
                checkpoint = await store.checkpoint(force=True)
                print(f"checkpoint written to {store.witness.path}: seq {checkpoint.seq}, head {checkpoint.head}")
                return 0
            cp = verdict.checkpoint
            if cp is None and verdict.head_seq > 0:
                print(f"FAILED: no checkpoint in the witness {store.witness.path}: a cut tail or a replaced store "
                      "cannot be ruled out (the node writes one when it starts; or run `querynode audit checkpoint`)")
                return 1
            anchor = await store.latest_anchor()
            since = f" from the anchor of the purge through seq {anchor.through_seq}" if anchor else ""
            legacy = (f"; {verdict.legacy_records} records from before keyed chains (plain SHA-256) sealed by "
                      "the records after them" if verdict.legacy_records else "")
            witnessed = f"; witness checkpoint of {cp.at} at seq {cp.seq} holds" if cp else ""
            intents = f"; {verdict.intents} intent records" if verdict.intents else ""
            print(f"OK: {verdict.records} records, chain intact{since}{witnessed}{legacy}{intents}; "
                  f"head seq {verdict.head_seq} {verdict.head}")
            return 0
        if args.audit_command == "purge":
            return await _audit_purge(store, settings, args)
        subject = None
        if args.id_number:
            index = BlindIndex(settings.read_node_key(), settings.security.blind_index)
            subject = identifier_digest(index, _normalised_id_number(args.id_number))
        records = await store.records(case_number=args.case_number, subject=subject, flagged=args.flagged,
                                      limit=args.limit)
        for r in records:
            print(f"{r.at}  {r.audit_id}  {r.caller:<16} {r.operator_id:<12} {r.case_number:<20} "
                  f"{r.operation:<22} {r.department:<18} {r.outcome:<18} {r.latency_ms:.1f} ms  {r.flags}".rstrip())
        print(f"{len(records)} record(s)")
        return 0
    finally:
        await store.close()


def _normalised_id_number(typed: str) -> str:
    """The ID number as the node records it (upper-case X, 18 digits, ASCII digits), so that a
    search finds every lookup about the person however the number is typed."""
    from querynode.domain.errors import InvalidArgument
    from querynode.domain.identifiers import resident_id

    try:
        return resident_id(typed, "id_number")[0]
    except InvalidArgument as exc:
        raise SystemExit(f"--id-number: {exc.message}") from None


async def _audit_purge(store, settings: Settings, args: argparse.Namespace) -> int:
    """Export the records older than the cutoff, print the file and its SHA-256, then delete them."""
    from querynode.security.audit_store import PurgeRefused

    export_dir = Path(args.export_dir) if args.export_dir else settings.audit.export_dir or settings.data_dir / "audit-exports"
    try:
        anchor = await store.purge(args.cutoff, export_dir)
    except PurgeRefused as exc:
        print(f"FAILED: {exc}")
        return 1
    if anchor is None:
        print(f"nothing to purge: no record before {args.cutoff.isoformat()}")
        return 0
    print(f"exported {anchor.records} records (seq {anchor.from_seq}-{anchor.through_seq}) to "
          f"{export_dir / anchor.export_file}")
    print(f"sha256 {anchor.export_sha256}  {anchor.export_file}")
    print(f"purged {anchor.records} records; the chain goes on from anchor hash {anchor.last_hash}")
    return 0


def _purge_cutoff(settings: Settings, before: str | None):
    """The purge cutoff: `--before` (an ISO date or time; UTC when it names no zone), never
    later than now less audit.retention_days, which is the default."""
    from datetime import UTC, datetime, timedelta

    latest = datetime.now(UTC) - timedelta(days=settings.audit.retention_days)
    if before is None:
        return latest
    try:
        cutoff = datetime.fromisoformat(before)
    except ValueError:
        raise SystemExit(f"audit purge: --before {before!r} is not an ISO date such as 2026-01-31") from None
    cutoff = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
    if cutoff > latest:
        raise SystemExit(f"audit purge: --before {before} is within audit.retention_days "
                         f"({settings.audit.retention_days} days): those records must be kept")
    return cutoff


def audit(args: argparse.Namespace) -> None:
    """`querynode audit verify` checks the hash chain (or, with --export, an exported file);
    `audit search` finds records by case number, by ID number (through the blind index: it is
    never stored in clear) or flagged by abuse detection; `audit purge` exports, then deletes,
    records older than the retention period."""
    if args.audit_command == "search" and not (args.case_number or args.id_number or args.flagged):
        raise SystemExit("audit search needs --case-number, --id-number or --flagged")
    settings = admin_settings(args.config)
    if args.audit_command == "purge":
        args.cutoff = _purge_cutoff(settings, args.before)
    raise SystemExit(asyncio.run(_audit_command(settings, args)))


def token(args: argparse.Namespace) -> None:
    """Bearer tokens of caller systems (only their hashes are stored; a running node re-reads
    the file when it changes): issue, list, revoke, rotate."""
    from querynode.security import authentication as auth

    path = auth.tokens_path(admin_settings(args.config))
    try:
        if args.token_command == "list":
            rows = auth.list_tokens(path)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            for token_id, caller, issued, expires in rows:
                state = "expired" if expires <= now else "valid"
                print(f"{token_id}  {caller:<24} issued {issued}  expires {expires}  {state}")
            print(f"{len(rows)} token(s) in {path}")
        elif args.token_command == "revoke":
            if not (args.id or args.caller):
                raise SystemExit("token revoke needs --id ID (from token list) or --caller NAME")
            removed = auth.revoke_tokens(path, token=args.id, caller=args.caller)
            print(f"revoked {removed} token(s); a running node refuses them from its next call")
            raise SystemExit(0 if removed else 1)
        elif args.token_command == "rotate":
            print(auth.rotate_token(path, args.caller, days=args.days, grace_hours=args.grace_hours))
            print(f"stored the SHA-256 hash in {path}; the token above is shown once. The caller's older tokens "
                  f"expire in {args.grace_hours:g} hours.", file=sys.stderr)
        else:
            print(auth.issue_token(path, args.caller, args.days))
            print(f"stored the SHA-256 hash in {path}; the token above is shown once, valid {args.days:g} days. "
                  "A running node loads it at its next call.", file=sys.stderr)
    except ValueError as exc:
        raise SystemExit(f"querynode token: {exc}") from None


def users(args: argparse.Namespace) -> None:
    """Clerk accounts: add, passwd, disable, list (there are no default accounts)."""
    from querynode.security.accounts import AccountError

    try:
        asyncio.run(_users(args, admin_settings(args.config)))
    except AccountError as exc:
        raise SystemExit(exc.message) from None
    except ValueError as exc:  # no node key or field keys: TOTP secrets are sealed with them
        raise SystemExit(f"querynode users: {exc}") from None


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
    from querynode.security.field_crypto import cipher_for

    store = AccountStore(accounts_path(settings.data_dir), cipher_for(settings))
    await store.open()
    try:
        if args.users_command == "add":
            secret = await store.add_user(args.username, _read_password(args), Role(args.role), totp=args.totp,
                                          display_name=args.display_name)
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


async def create_demo_clerk(settings: Settings) -> str:
    """The demo's clerk `demo-clerk` with a random password, printed once; '' if it exists."""
    from querynode.security.accounts import AccountStore, Role, UserExists, accounts_path
    from querynode.security.field_crypto import cipher_for

    password = "Qn7-" + secrets.token_urlsafe(12)
    store = AccountStore(accounts_path(settings.data_dir), cipher_for(settings))
    await store.open()
    try:
        await store.add_user("demo-clerk", password, Role.CLERK)
    except UserExists:
        return ""
    finally:
        await store.close()
    return password


def drill(args: argparse.Namespace) -> None:
    """Run the emergency drill against a node in drill mode; write the dated report."""
    from querynode.drill import CLASS_KEYS, DrillOptions, DrillRefused, run_drill

    settings = admin_settings(args.config)
    token_file = Path(args.token_file) if args.token_file else settings.data_dir / DEMO_DRILL_TOKEN
    if not token_file.exists():
        raise SystemExit(f"querynode drill: no admin credential: {token_file} does not exist. Issue one with "
                         f"`querynode token issue --caller {settings.drill.admin_callers[0]}` (a caller in "
                         f"drill.admin_callers), save it to a file and pass --token-file FILE")
    classes = tuple(c for c in (args.classes or "").split(",") if c)
    unknown = sorted(set(classes) - set(CLASS_KEYS))
    if unknown:
        raise SystemExit(f"querynode drill: unknown class {', '.join(unknown)}; one of {', '.join(CLASS_KEYS)}")
    options = DrillOptions(
        http_url=args.url or f"http://{settings.http.host}:{settings.http.port}",
        token=token_file.read_text().strip(), report_dir=Path(args.report_dir), operator=args.operator,
        classes=classes, grpc_credentials=_grpc_client_credentials(args, settings))
    try:
        report, md_path, json_path = asyncio.run(run_drill(options))
    except DrillRefused as exc:
        raise SystemExit(f"querynode drill: refused by the node: {exc}") from None
    except (OSError, RuntimeError) as exc:  # aiohttp's connection errors are OSErrors
        raise SystemExit(f"querynode drill: cannot drill {options.http_url}: {exc}") from None
    for r in report["classes"]:
        print(f"{r['status']:<4} {r['title']:<12} detect {r['detect_seconds'] or 0:6.1f} s  "
              f"recover {r['recover_seconds'] or 0:6.1f} s  {r['note']}".rstrip())
    print(f"report: {md_path}\n        {json_path}")
    raise SystemExit(0 if report["passed"] else 1)


def _grpc_client_credentials(args: argparse.Namespace, settings: Settings):
    """TLS credentials for the drill's gRPC health check: the files given, else the demo's
    client certificate; None when there are none (a plain-text loopback node needs none)."""
    import grpc
    from querynode.security.tls import DemoPki

    pki = DemoPki(settings.data_dir / "pki")
    ca = Path(args.grpc_ca) if args.grpc_ca else pki.ca_cert
    cert = Path(args.grpc_cert) if args.grpc_cert else pki.client_cert(DEMO_GRPC_CALLER)
    key = Path(args.grpc_key) if args.grpc_key else pki.client_key(DEMO_GRPC_CALLER)
    if not ca.exists():
        return None
    if cert.exists() and key.exists():
        return grpc.ssl_channel_credentials(ca.read_bytes(), key.read_bytes(), cert.read_bytes())
    return grpc.ssl_channel_credentials(ca.read_bytes())


def main(argv: list[str] | None = None) -> None:
    configure_logging(logging.INFO)
    parser = argparse.ArgumentParser(prog="querynode", description="Precise cross-department query node")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the node with a configuration file and environment")
    p_serve.add_argument("--config", help="YAML settings file (else QUERYNODE_CONFIG)")
    p_serve.add_argument("--workers", type=int, default=1,
                         help="node processes sharing the ports (SO_REUSEPORT); more than 1 needs fixed ports")
    p_serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of --workers N
    p_serve.set_defaults(func=serve)
    p_demo = sub.add_parser("demo", help="run mock departments and the node on embedded defaults")
    p_demo.set_defaults(func=demo)
    p_record = sub.add_parser("record", help="verification records").add_subparsers(dest="record_command", required=True)
    p_verify = p_record.add_parser("verify", help="check a saved verification record's digest and signature")
    p_verify.add_argument("file")
    p_verify.add_argument("--public-key", help="the node's record public key (PEM); default: derive from node key")
    p_verify.add_argument("--config", help="YAML settings file (for the node key)")
    p_verify.set_defaults(func=record_verify)
    p_audit = sub.add_parser("audit", help="the audit trail").add_subparsers(dest="audit_command", required=True)
    p_audit_verify = p_audit.add_parser(
        "verify", help="check the keyed chain, its anchors and the witness checkpoints; names the first bad record")
    p_audit_checkpoint = p_audit.add_parser(
        "checkpoint", help="verify, then write a checkpoint of the head to the witness (the node writes them itself)")
    p_audit_search = p_audit.add_parser("search", help="records of a case, or about an ID number (blind index)")
    p_audit_search.add_argument("--case-number")
    p_audit_search.add_argument("--id-number")
    p_audit_search.add_argument("--flagged", action="store_true", help="only records flagged by abuse detection")
    p_audit_search.add_argument("--limit", type=int, default=1000)
    p_audit_verify.add_argument("--export", metavar="FILE", help="check an exported file against its anchor instead")
    p_audit_purge = p_audit.add_parser(
        "purge", help="export records older than audit.retention_days (JSON Lines, SHA-256 printed), then delete them")
    p_audit_purge.add_argument("--export-dir", help="folder for the export (default: audit.export_dir)")
    p_audit_purge.add_argument("--before", help="ISO date or time (UTC unless it names a zone); "
                                                "no later than now less audit.retention_days (the default)")
    for p in (p_audit_verify, p_audit_checkpoint, p_audit_search, p_audit_purge):
        p.add_argument("--config", help="YAML settings file (else QUERYNODE_CONFIG and environment)")
        p.set_defaults(func=audit)
    p_token = sub.add_parser("token", help="caller tokens").add_subparsers(dest="token_command", required=True)
    p_issue = p_token.add_parser("issue", help="issue a bearer token for a caller system (printed once)")
    p_issue.add_argument("--caller", required=True)
    p_token_list = p_token.add_parser("list", help="tokens: id, caller, issued, expires (never the token)")
    p_revoke = p_token.add_parser("revoke", help="remove a token (--id from token list) or all of a caller's")
    p_revoke.add_argument("--id", help="the token id (at least 8 hex digits) that token list shows")
    p_revoke.add_argument("--caller")
    p_rotate = p_token.add_parser("rotate", help="a new token for a caller; its older tokens expire after a grace")
    p_rotate.add_argument("--caller", required=True)
    p_rotate.add_argument("--grace-hours", type=float, default=24, help="older tokens stay valid this long (24)")
    for p in (p_issue, p_rotate):
        p.add_argument("--days", type=float, default=90, help="how long the new token is valid (90)")
    for p in (p_issue, p_token_list, p_revoke, p_rotate):
        p.add_argument("--config", help="YAML settings file (for the tokens file)")
        p.set_defaults(func=token)
    p_users = sub.add_parser("users", help="clerk accounts for the web pages").add_subparsers(
        dest="users_command", required=True)
    p_add = p_users.add_parser("add", help="create an account (password asked twice, or --password-stdin)")
    p_add.add_argument("username")
    p_add.add_argument("--role", choices=["clerk", "auditor", "administrator"], default="clerk")
    p_add.add_argument("--totp", action="store_true", help="require a TOTP code at login (always for administrators)")
    p_add.add_argument("--display-name", default="", help="the person's name as printed on verification records")
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
    p_drill = sub.add_parser("drill", help="emergency drill (应急演练) against a running node in drill mode")
    p_drill.add_argument("--report-dir", required=True, help="folder for the dated report (Markdown and JSON)")
    p_drill.add_argument("--url", help="the node's HTTP address (default: http.host and http.port of the settings)")
    p_drill.add_argument("--token-file", help="a drill admin's bearer token (default: the demo's, "
                                              "<data_dir>/secrets/drill-admin.token)")
    p_drill.add_argument("--classes", help="comma-separated subset of the failure classes (default: all)")
    p_drill.add_argument("--operator", default="drill", help="who runs the drill (goes into the report)")
    p_drill.add_argument("--grpc-ca", help="CA of the node's gRPC certificate (default: the demo's)")
    p_drill.add_argument("--grpc-cert", help="client certificate for gRPC health (default: the demo's)")
    p_drill.add_argument("--grpc-key", help="its key (default: the demo's)")
    p_drill.add_argument("--config", help="YAML settings file (for the data dir and the node's address)")
    p_drill.set_defaults(func=drill)
    args = parser.parse_args(argv)
    args.func(args)
