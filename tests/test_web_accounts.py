"""Accounts (MLPS level 3): password policy, history, lock-out, expiry, TOTP, sessions, the CLI."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import aiosqlite
import pytest

from querynode.security.accounts import (
    AccountError, AccountPolicy, AccountStore, LoginRefused, PasswordRejected, Role, UserExists, accounts_path,
    totp_code, totp_step,
)

GOOD = "Window-Clerk-2026"


@pytest.fixture
async def store(tmp_path):
    s = AccountStore(accounts_path(tmp_path))
    await s.open()
    yield s
    await s.close()


@pytest.mark.parametrize("password,why", [
    ("Short-1a", "12"),                     # too short
    ("alllowercaseletters", "3"),           # one class
    ("lowercase-and-symbols", "3"),         # two classes
    ("Xclerk07-password", "用户名"),         # contains the user name (any case)
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
    s = AccountStore(accounts_path(tmp_path), AccountPolicy(lockout=timedelta(seconds=0.5)))
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


def test_totp_matches_rfc6238_vector():
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # ASCII "12345678901234567890"
    assert totp_code(secret, 59 // 30) == "287082"  # RFC 6238 appendix B, T=59, last 6 digits
    assert totp_code(secret, 1111111109 // 30) == "081804"


async def test_administrator_needs_totp_and_a_code_is_good_once(store):
    secret = await store.add_user("admin01", GOOD, Role.ADMINISTRATOR)
    assert secret
    with pytest.raises(LoginRefused):
        await store.authenticate("admin01", GOOD)
    code = totp_code(secret, totp_step())
    assert (await store.authenticate("admin01", GOOD, code)).role is Role.ADMINISTRATOR
    with pytest.raises(LoginRefused):
        await store.authenticate("admin01", GOOD, code)  # replayed


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
    env = {"QUERYNODE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def run(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "querynode", "users", *args], input=stdin, text=True,
                              capture_output=True, env=env, timeout=60)

    added = run("add", "clerk01", "--password-stdin", stdin=GOOD + "\n")
    assert added.returncode == 0 and "created clerk01" in added.stdout
    weak = run("add", "clerk02", "--password-stdin", stdin="weak\n")
    assert weak.returncode != 0 and "12" in weak.stderr
    admin = run("add", "admin01", "--role", "administrator", "--password-stdin", stdin=GOOD + "\n")
    assert "TOTP secret" in admin.stdout and "otpauth://totp/" in admin.stdout
    assert run("passwd", "clerk01", "--password-stdin", stdin=GOOD + "\n").returncode != 0  # history
    assert run("disable", "clerk01").returncode == 0
    listing = run("list").stdout
    assert "clerk01" in listing and "disabled" in listing and "admin01" in listing and "clerk02" not in listing
    assert GOOD not in added.stdout + listing
