"""Accounts (MLPS level 3): password policy, history, lock-out, expiry, TOTP, sessions, the CLI."""
from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import aiosqlite
import pyotp
import pytest

from querynode.security.accounts import (
    AccountError,
    AccountPolicy,
    AccountStore,
    LoginRefused,
    PasswordRejected,
    Role,
    UserExists,
    _matching_step,
    accounts_path,
)
from querynode.security.field_crypto import FieldCipher

GOOD = "Window-Clerk-2026"
KEY_1, KEY_2 = os.urandom(32), os.urandom(32)


def cipher(*key_ids: str) -> FieldCipher:
    """A field cipher over the named test keys ("k1", "k2"); the last is current."""
    keys = {"k1": KEY_1, "k2": KEY_2}
    ids = key_ids or ("k1",)
    return FieldCipher({k: keys[k] for k in ids}, ids[-1])


def raw_files(path) -> bytes:
    """Every byte SQLite keeps for the account file: the database, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


@contextlib.asynccontextmanager
async def opened(path, field_cipher: FieldCipher):
    s = AccountStore(path, field_cipher)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def store(tmp_path):
    s = AccountStore(accounts_path(tmp_path), cipher())
    await s.open()
    yield s
    await s.close()


@pytest.mark.parametrize("password,why", [
    ("Short-1a", "12"),                     # too short
    ("alllowercaseletters", "3"),           # one class
    ("lowercase-and-symbols", "3"),         # two classes
    ("Xclerk07-password", "用户名"),         # contains the user name (any case)
    ("Password1234", "太常见"),              # issue 18 L5: passed before
    ("Qwerty123456!", "太常见"),             # keyboard run and digits
    ("P@ssw0rd2026!", "太常见"),             # a common password, decorated
])
async def test_password_policy(store, password, why):
    with pytest.raises(PasswordRejected) as info:
        await store.add_user("CLERK07", password, Role.CLERK)
    assert why in info.value.message
    assert await store.user("CLERK07") is None


async def test_add_refuses_duplicates_and_bad_names(store):
    await store.add_user("clerk01", GOOD, Role.CLERK)
    with pytest.raises(UserExists):
        await store.add_user("clerk01", GOOD + "x", Role.CLERK)
    with pytest.raises(AccountError):
        await store.add_user("张三", GOOD, Role.CLERK)


async def test_password_is_stored_as_argon2id(store):
    await store.add_user("clerk01", GOOD, Role.CLERK)
    async with store.db.execute("SELECT password_hash FROM users") as cur:
        (stored,) = await cur.fetchone()
    assert stored.startswith("$argon2id$") and GOOD not in stored


async def test_last_five_passwords_are_refused(store):
    passwords = [f"Window-Clerk-{n}x" for n in range(6)]
    await store.add_user("clerk01", passwords[0], Role.CLERK)
    for new in passwords[1:5]:
        await store.set_password("clerk01", new)
    for old in passwords[:5]:  # the current one and the four before it
        with pytest.raises(PasswordRejected):
            await store.set_password("clerk01", old)
    await store.set_password("clerk01", passwords[5])
    await store.set_password("clerk01", passwords[0])  # six changes ago: allowed again


async def test_change_needs_the_current_password(store):
    await store.add_user("clerk01", GOOD, Role.CLERK)
    with pytest.raises(LoginRefused):
        await store.set_password("clerk01", "Another-Pass-99", current_password="wrong")
    await store.set_password("clerk01", "Another-Pass-99", current_password=GOOD)
    assert (await store.authenticate("clerk01", "Another-Pass-99")).username == "clerk01"


async def test_lockout_after_five_failures(store):
    await store.add_user("clerk01", GOOD, Role.CLERK)
    for _ in range(5):
        with pytest.raises(LoginRefused):
            await store.authenticate("clerk01", "Wrong-Password-1")
    with pytest.raises(LoginRefused) as info:
        await store.authenticate("clerk01", GOOD)  # right password, still locked
    assert "锁定" in info.value.message
    locked_until = (await store.user("clerk01")).locked_until
    assert timedelta(minutes=14) < locked_until - datetime.now(UTC) <= timedelta(minutes=15)


async def test_lock_expires(tmp_path):
    s = AccountStore(accounts_path(tmp_path), cipher(), AccountPolicy(lockout=timedelta(seconds=0.5)))
    await s.open()
    try:
        await s.add_user("clerk01", GOOD, Role.CLERK)
        for _ in range(5):
            with pytest.raises(LoginRefused):
                await s.authenticate("clerk01", "Wrong-Password-1")
        await asyncio.sleep(0.6)
        assert (await s.authenticate("clerk01", GOOD)).username == "clerk01"
    finally:
        await s.close()


async def test_unknown_user_and_disabled_user_are_refused(store):
    with pytest.raises(LoginRefused) as unknown:
        await store.authenticate("nobody", GOOD)
    await store.add_user("clerk01", GOOD, Role.CLERK)
    with pytest.raises(LoginRefused) as wrong:
        await store.authenticate("clerk01", "Wrong-Password-1")
    assert unknown.value.message == wrong.value.message  # does not reveal which names exist
    sid, _ = await store.start_session("clerk01")
    await store.disable("clerk01")
    assert await store.session(sid) is None
    with pytest.raises(LoginRefused):
        await store.authenticate("clerk01", GOOD)


def test_totp_accepts_one_step_of_drift_and_names_the_step():
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # ASCII "12345678901234567890"
    assert _matching_step(secret, "287082", 59) == 1  # RFC 6238 appendix B, T=59, last 6 digits
    assert _matching_step(secret, "081804", 1111111109) == 1111111109 // 30
    at = 1_800_000_015.0
    totp = pyotp.TOTP(secret)
    step = int(at // 30)
    for offset, expected in ((-30, step - 1), (0, step), (30, step + 1), (-60, None), (60, None)):
        assert _matching_step(secret, totp.at(at + offset), at) == expected, offset
    for junk in ("", "12345", "abcdef", "１" * 6, "9" * 5000):
        assert _matching_step(secret, junk, at) is None


async def test_administrator_needs_totp_and_a_code_is_good_once(store):
    secret = await store.add_user("admin01", GOOD, Role.ADMINISTRATOR)
    assert secret
    with pytest.raises(LoginRefused):
        await store.authenticate("admin01", GOOD)
    code = pyotp.TOTP(secret).now()
    assert (await store.authenticate("admin01", GOOD, code)).role is Role.ADMINISTRATOR
    with pytest.raises(LoginRefused):
        await store.authenticate("admin01", GOOD, code)  # replayed


async def test_a_code_of_an_earlier_step_is_refused_after_a_later_one(store):
    secret = await store.add_user("clerk01", GOOD, Role.CLERK, totp=True)
    totp, now = pyotp.TOTP(secret), time.time()
    assert (await store.authenticate("clerk01", GOOD, totp.at(now + 30))).username == "clerk01"  # clock ahead
    with pytest.raises(LoginRefused):
        await store.authenticate("clerk01", GOOD, totp.at(now))  # in the window, but older than the one used


async def test_totp_secret_is_sealed_at_rest(store):
    secret = await store.add_user("admin01", GOOD, Role.ADMINISTRATOR)
    async with store.db.execute("SELECT totp_secret FROM users") as cur:
        (stored,) = await cur.fetchone()
    assert isinstance(stored, bytes) and FieldCipher.key_id_of(stored) == "k1"
    assert secret.encode() not in raw_files(store.path)
    assert (await store.authenticate("admin01", GOOD, pyotp.TOTP(secret).now())).username == "admin01"


async def test_sealed_secret_is_bound_to_its_user_and_key(tmp_path):
    path = accounts_path(tmp_path)
    async with opened(path, cipher()) as s:
        secret = await s.add_user("admin01", GOOD, Role.ADMINISTRATOR)
        await s.add_user("admin02", GOOD, Role.ADMINISTRATOR)
        # admin02's row gets admin01's sealed secret: it does not open there.
        await s.db.execute("UPDATE users SET totp_secret = (SELECT totp_secret FROM users WHERE username = 'admin01')"
                           " WHERE username = 'admin02'")
        await s.db.commit()
        with pytest.raises(LoginRefused):
            await s.authenticate("admin02", GOOD, pyotp.TOTP(secret).now())
    async with opened(path, FieldCipher({"k1": os.urandom(32)}, "k1")) as other:  # same key id, another key
        with pytest.raises(LoginRefused):
            await other.authenticate("admin01", GOOD, pyotp.TOTP(secret).now())


async def test_plain_secret_of_an_old_file_is_sealed_on_open(tmp_path):
    path = accounts_path(tmp_path)
    async with opened(path, cipher()) as s:
        await s.add_user("admin01", GOOD, Role.CLERK)
    plain = pyotp.random_base32()
    async with aiosqlite.connect(path) as db:  # as an older querynode stored it
        await db.execute("UPDATE users SET totp_secret = ?", (plain,))
        await db.commit()
    assert plain.encode() in raw_files(path)
    async with opened(path, cipher()) as s:
        assert plain.encode() not in raw_files(path)
        async with s.db.execute("SELECT totp_secret FROM users") as cur:
            (stored,) = await cur.fetchone()
        assert isinstance(stored, bytes)
        with pytest.raises(LoginRefused):
            await s.authenticate("admin01", GOOD)  # the code is still required
        assert (await s.authenticate("admin01", GOOD, pyotp.TOTP(plain).now())).username == "admin01"


async def test_secret_under_an_older_field_key_is_sealed_again_under_the_current_one(tmp_path):
    path = accounts_path(tmp_path)
    async with opened(path, cipher("k1")) as s:
        secret = await s.add_user("admin01", GOOD, Role.ADMINISTRATOR)
    for ring in (("k1", "k2"), ("k2",)):  # rotate to k2, then drop k1
        async with opened(path, cipher(*ring)) as s:
            async with s.db.execute("SELECT totp_secret FROM users") as cur:
                (stored,) = await cur.fetchone()
            assert FieldCipher.key_id_of(stored) == "k2"
    async with opened(path, cipher("k2")) as s:
        assert (await s.authenticate("admin01", GOOD, pyotp.TOTP(secret).now())).username == "admin01"


async def test_expired_password_marks_the_session(store):
    await store.add_user("clerk01", GOOD, Role.CLERK)
    sid, session = await store.start_session("clerk01")
    assert not session.must_change_password
    old = (datetime.now(UTC) - timedelta(days=91)).isoformat()
    await store.db.execute("UPDATE users SET password_changed_at = ?", (old,))
    await store.db.commit()
    assert (await store.session(sid)).must_change_password


async def test_idle_session_ends(store):
    await store.add_user("clerk01", GOOD, Role.CLERK)
    sid, _ = await store.start_session("clerk01")
    assert (await store.session(sid)).username == "clerk01"
    async with aiosqlite.connect(store.path) as db:  # as if 16 minutes had passed
        await db.execute("UPDATE sessions SET last_seen = last_seen - 960")
        await db.commit()
    assert await store.session(sid) is None
    assert await store.session("not-a-session") is None


async def test_session_id_is_not_stored(store):
    await store.add_user("clerk01", GOOD, Role.CLERK)
    sid, _ = await store.start_session("clerk01")
    async with store.db.execute("SELECT id_hash FROM sessions") as cur:
        (stored,) = await cur.fetchone()
    assert stored != sid and len(stored) == 64


def test_cli_users_add_list_disable(tmp_path):
    env = {"QUERYNODE_DATA_DIR": str(tmp_path), "QUERYNODE_NODE_KEY": secrets.token_hex(32), "PATH": "/usr/bin:/bin"}

    def run(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "querynode", "users", *args], check=False, input=stdin,
                              text=True, capture_output=True, env=env, timeout=60)

    added = run("add", "clerk01", "--password-stdin", stdin=GOOD + "\n")
    assert added.returncode == 0 and "created clerk01" in added.stdout
    weak = run("add", "clerk02", "--password-stdin", stdin="weak\n")
    assert weak.returncode != 0 and "12" in weak.stderr
    admin = run("add", "admin01", "--role", "administrator", "--password-stdin", stdin=GOOD + "\n")
    assert "TOTP secret" in admin.stdout and "otpauth://totp/" in admin.stdout
    secret = admin.stdout.split("TOTP secret (shown once; add it to an authenticator app): ")[1].split()[0]
    assert f"secret={secret}" in admin.stdout and secret.encode() not in raw_files(accounts_path(tmp_path))
    assert run("passwd", "clerk01", "--password-stdin", stdin=GOOD + "\n").returncode != 0  # history
    assert run("disable", "clerk01").returncode == 0
    listing = run("list").stdout
    assert "clerk01" in listing and "disabled" in listing and "admin01" in listing and "clerk02" not in listing
    assert GOOD not in added.stdout + listing
    no_key = subprocess.run([sys.executable, "-m", "querynode", "users", "list"], check=False, text=True,
                            capture_output=True, env={"QUERYNODE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
                            timeout=60)
    assert no_key.returncode != 0 and "node key" in no_key.stderr and "Traceback" not in no_key.stderr


OPEN_AT = """
import asyncio, sys, time
from pathlib import Path
from querynode.security.accounts import AccountStore
from querynode.security.audit_store import ChainKey, SqliteAuditStore
from querynode.security.field_crypto import FieldCipher
from querynode.security.record_store import RecordStore

async def main(folder, start):
    accounts = AccountStore(Path(folder) / "accounts.sqlite", FieldCipher({"k1": bytes(32)}, "k1"))
    audit = SqliteAuditStore(Path(folder) / "audit.sqlite", ChainKey(bytes(32)))
    while time.time() < start:
        pass  # line the processes up to the microsecond, as forked workers are
    for store in (accounts, audit, RecordStore(Path(folder) / "records.sqlite")):
        await asyncio.wait_for(store.open(), 20)
        await store.close()

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


async def test_workers_opening_new_files_at_once_all_start(tmp_path):
    """`serve --workers 2` in CI: two workers opened the new account file together and one died
    with 'database is locked' (then hung at exit on aiosqlite's thread): SQLite does not wait when
    two connections race to switch a new file to WAL. Every worker must start."""
    for round_ in range(5):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        start = time.time() + 2.0  # past the interpreters' start-up: the opens line up
        procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", OPEN_AT, str(folder), str(start),
                                                      stderr=asyncio.subprocess.PIPE) for _ in range(4)]
        try:
            results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 30)
        finally:
            for p in procs:
                if p.returncode is None:
                    p.kill()
        errors = [err.decode()[-300:] for p, (_, err) in zip(procs, results) if p.returncode != 0]
        assert not errors, errors
