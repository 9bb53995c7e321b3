"""Clerk accounts and web sessions (MLPS level 3 identification controls).

Users live in one SQLite file under the data dir: argon2id hashes (computed in an executor,
never on the event loop), the last five hashes for the history rule, the time of the last
password change (expiry after 90 days forces a change), failure counts and lock-out, an
optional TOTP secret (required for administrators), sealed with the node's field cipher and
bound to its user name (plain secrets of an older file are sealed when the store opens; ones
under an older field key are sealed again under the current one). Web sessions are server side in the same
file: the browser holds only a random id, the store holds its SHA-256, the CSRF token and the
time of the last request (idle logout).

There are no default accounts: `querynode users add` creates them.
"""
from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from querynode.domain.model import SHANGHAI
from querynode.security.field_crypto import FieldCipher, FieldCryptoError
from querynode.security.files import create_private, opening_alone

ACCOUNTS_FILE = "accounts.sqlite"
log = logging.getLogger("querynode.accounts")


def accounts_path(data_dir: Path) -> Path:
    return Path(data_dir) / ACCOUNTS_FILE


class Role(enum.StrEnum):
    CLERK = "clerk"  # runs lookups, sees own history
    AUDITOR = "auditor"  # reads the audit trail, no lookups
    ADMINISTRATOR = "administrator"  # node status, accounts; TOTP required


ROLE_NAMES_ZH = {Role.CLERK: "窗口人员", Role.AUDITOR: "审计员", Role.ADMINISTRATOR: "管理员"}


@dataclass(frozen=True)
class AccountPolicy:
    min_length: int = 12
    min_classes: int = 3  # of lower, upper, digit, other
    history: int = 5  # a new password may not be any of the last N
    max_age: timedelta = timedelta(days=90)
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    # zxcvbn score (0-4) a new password needs: 3 is at least 10^8 guesses, beyond common and
    # breached-list passwords, keyboard runs, dates and their usual decorations.
    min_strength: int = 3
    idle_timeout: timedelta = timedelta(minutes=15)
    session_max_age: timedelta = timedelta(hours=10)


class AccountError(Exception):
    """Base of account errors; `message` is a Chinese sentence fit to show the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PasswordRejected(AccountError):
    """The new password breaks the password policy."""


class UnknownUser(AccountError):
    """No such account (CLI only: the login page never says which part was wrong)."""


class UserExists(AccountError):
    """An account with this user name exists already."""


class LoginRefused(AccountError):
    """Wrong user name, password or one-time code, a locked or a disabled account."""


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    disabled: bool
    totp_enabled: bool
    password_changed_at: datetime
    locked_until: datetime | None

    def password_expired(self, policy: AccountPolicy, now: datetime) -> bool:
        return now - self.password_changed_at >= policy.max_age


@dataclass(frozen=True)
class Session:
    username: str
    role: Role
    csrf_token: str
    must_change_password: bool


def check_password_policy(username: str, password: str, policy: AccountPolicy) -> None:
    if len(password) < policy.min_length:
        raise PasswordRejected(f"密码至少 {policy.min_length} 个字符")
    classes = sum((
        any(c.islower() for c in password), any(c.isupper() for c in password),
        any(c.isdigit() for c in password), any(not c.isalnum() for c in password),
    ))
    if classes < policy.min_classes:
        raise PasswordRejected(f"密码须包含小写字母、大写字母、数字、符号中的至少 {policy.min_classes} 类")
    if username and username.casefold() in password.casefold():
        raise PasswordRejected("密码不得包含用户名")
    if zxcvbn(password[:100], user_inputs=[username, "querynode", "不动产"])["score"] < policy.min_strength:
        raise PasswordRejected("密码太常见或太容易猜到（常用密码、泄露过的密码、键盘顺序、年份等），请换一个更长、更随机的密码")


def valid_username(username: str) -> bool:
    return 1 <= len(username) <= 64 and all(c.isascii() and (c.isalnum() or c in "._-") for c in username)


# ------------------------------------------------------------------ TOTP (RFC 6238, pyotp)

TOTP_ISSUER = "querynode"


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def totp_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads (6 digits, 30 s, SHA-1)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step (the current one, one before or one after: clock drift) whose code is
    `code`, or None. The caller refuses a step not later than the last one used."""
    try:
        return pyotp.TOTP(secret).verify_and_get_timecode(code, for_time=at, valid_window=1)
    except pyotp.OTPVerificationError:
        return None


# ------------------------------------------------------------------ the store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    totp_secret BLOB,  -- sealed (field_crypto envelope, associated data = _totp_aad(username))
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    display_name BLOB  -- the person's name for printed records, sealed like the TOTP secret
);
CREATE TABLE IF NOT EXISTS password_history (
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    set_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS password_history_user ON password_history(username);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL
);
"""


def _now() -> datetime:
    return datetime.now(UTC)


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _display_name_aad(username: str) -> bytes:
    return b"querynode display name\0" + username.encode()


def _totp_aad(username: str) -> bytes:
    """Binds a sealed TOTP secret to its account: copied to another row, it does not open."""
    return b"querynode totp secret\0" + username.encode()


class AccountStore:
    """The account file; `cipher` is the node's field cipher (`field_crypto.cipher_for(settings)`)."""

    def __init__(self, path: Path | str, cipher: FieldCipher, policy: AccountPolicy = AccountPolicy()) -> None:
        self.path = Path(path)
        self.cipher = cipher
        self.policy = policy
        self._hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self._db: aiosqlite.Connection | None = None
        self._dummy_hash: str | None = None

    async def open(self) -> None:
        async with opening_alone(self.path):  # workers starting together take turns
            create_private(self.path)
            self._db = await aiosqlite.connect(self.path)
            try:
                await self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" + _SCHEMA)
                async with self._db.execute("PRAGMA table_info(users)") as cur:
                    if "display_name" not in {row[1] for row in await cur.fetchall()}:  # a file from before names
                        await self._db.execute("ALTER TABLE users ADD COLUMN display_name BLOB")
                await self._db.commit()
                await self._seal_totp_secrets()
            except BaseException:
                await self.close()  # aiosqlite's thread would keep the process from exiting
                raise

    async def _seal_totp_secrets(self) -> None:
        """Seal plain TOTP secrets (files from before sealing) and re-seal those under an older
        field key, so that key can leave the ring. A secret under a key no longer in the ring
        stays as it is (that user cannot log in until given a new secret)."""
        async with self.db.execute("SELECT username, totp_secret FROM users WHERE totp_secret IS NOT NULL") as cur:
            rows = await cur.fetchall()
        changed = 0
        for username, stored in rows:
            if isinstance(stored, str):
                secret = stored
            elif FieldCipher.key_id_of(stored) != self.cipher.current:
                try:
                    secret = self._open_totp(username, stored)
                except FieldCryptoError as exc:
                    log.error("TOTP secret cannot be opened; give the user a new one",
                              extra={"error": type(exc).__name__})
                    continue
            else:
                continue
            await self.db.execute("UPDATE users SET totp_secret = ? WHERE username = ?",
                                  (self._seal_totp(username, secret), username))
            changed += 1
        if changed:
            await self.db.commit()
            # SQLite keeps deleted text in free pages and in the WAL until they are reused:
            # rewrite the file so no plain secret stays on disk.
            for statement in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"):
                await self.db.execute_fetchall(statement)

    def _seal_totp(self, username: str, secret: str) -> bytes:
        return self.cipher.seal(secret.encode("ascii"), aad=_totp_aad(username))

    def _open_totp(self, username: str, sealed: bytes) -> str:
        return self.cipher.open(sealed, aad=_totp_aad(username)).decode("ascii")

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("account store is not open")
        return self._db

    # -- hashing, off the event loop

    async def _hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, self._hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False
        return await asyncio.get_running_loop().run_in_executor(None, verify)

    # -- accounts

    async def add_user(self, username: str, password: str, role: Role, *, totp: bool = False,
                       display_name: str = "") -> str | None:
        """Create an account; returns the TOTP secret when one was set up (always for administrators).
        `display_name` is the person's name as printed on verification records (stored sealed)."""
        if not valid_username(username):
            raise AccountError("用户名只能由字母、数字和 . _ - 组成，最长 64 个字符")
        check_password_policy(username, password, self.policy)
        if await self._row(username) is not None:
            raise UserExists(f"用户 {username} 已存在")
        secret = new_totp_secret() if totp or role is Role.ADMINISTRATOR else None
        password_hash = await self._hash(password)
        now = _now().isoformat()
        await self.db.execute(
            "INSERT INTO users (username, role, password_hash, password_changed_at, totp_secret, created_at,"
            " display_name) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (username, role.value, password_hash, now, secret and self._seal_totp(username, secret), now,
             self.cipher.seal(display_name.strip().encode(), aad=_display_name_aad(username))
             if display_name.strip() else None))
        await self.db.execute("INSERT INTO password_history VALUES (?, ?, ?)", (username, password_hash, now))
        await self.db.commit()
        return secret

    async def set_password(self, username: str, new_password: str, *, current_password: str | None = None) -> None:
        """Change a password (the user gives the current one; the CLI administrator does not)."""
        row = await self._row(username)
        if row is None:
            raise UnknownUser(f"没有用户 {username}")
        if current_password is not None and not await self._verify(row["password_hash"], current_password):
            raise LoginRefused("当前密码不正确")
        check_password_policy(username, new_password, self.policy)
        async with self.db.execute(
                "SELECT password_hash FROM password_history WHERE username = ? ORDER BY rowid DESC LIMIT ?",
                (username, self.policy.history)) as cur:
            recent = [r[0] async for r in cur]
        for old in recent:
            if await self._verify(old, new_password):
                raise PasswordRejected(f"新密码不得与最近 {self.policy.history} 次使用过的密码相同")
        password_hash = await self._hash(new_password)
        now = _now().isoformat()
        await self.db.execute(
            "UPDATE users SET password_hash = ?, password_changed_at = ?, failed_logins = 0, locked_until = NULL"
            " WHERE username = ?", (password_hash, now, username))
        await self.db.execute("INSERT INTO password_history VALUES (?, ?, ?)", (username, password_hash, now))
        await self.db.commit()

    async def disable(self, username: str) -> None:
        if await self._row(username) is None:
            raise UnknownUser(f"没有用户 {username}")
        await self.db.execute("UPDATE users SET disabled = 1 WHERE username = ?", (username,))
        await self.db.execute("DELETE FROM sessions WHERE username = ?", (username,))
        await self.db.commit()

    async def users(self) -> list[User]:
        async with self.db.execute("SELECT * FROM users ORDER BY username") as cur:
            cur.row_factory = aiosqlite.Row
            return [_user(row) async for row in cur]

    async def user(self, username: str) -> User | None:
        row = await self._row(username)
        return _user(row) if row is not None else None

    async def _row(self, username: str):
        async with self.db.execute("SELECT * FROM users WHERE username = ?", (username,)) as cur:
            cur.row_factory = aiosqlite.Row
            return await cur.fetchone()

    async def authenticate(self, username: str, password: str, totp: str = "") -> User:
        """Check a login; raises LoginRefused with one message for every wrong credential."""
        refused = LoginRefused("用户名、密码或动态口令不正确")
        now = _now()
        row = await self._row(username) if valid_username(username) else None
        if row is None:
            # Spend the same time as a real check, so timing does not reveal which names exist.
            if self._dummy_hash is None:
                self._dummy_hash = await self._hash(secrets.token_hex(16))
            await self._verify(self._dummy_hash, password)
            raise refused
        user = _user(row)
        # The password is checked whatever the account's state, so a disabled or locked account
        # takes as long to refuse as a wrong password (timing must not tell which names exist).
        ok = await self._verify(row["password_hash"], password)
        if user.disabled:
            raise LoginRefused("账号已停用，请联系管理员")
        if user.locked_until is not None and user.locked_until > now:
            raise LoginRefused(f"连续登录失败次数过多，账号已锁定至 {_shanghai(user.locked_until)}")
        step = None
        if ok and row["totp_secret"]:
            try:
                secret = self._open_totp(username, row["totp_secret"])
            except FieldCryptoError as exc:
                log.error("TOTP secret cannot be opened; give the user a new one", extra={"error": type(exc).__name__})
                raise refused from None
            step = _matching_step(secret, totp.strip(), time.time())
            ok = step is not None and step > row["totp_last_step"]  # a code is good once
        if not ok:
            failures = row["failed_logins"] + 1
            if failures >= self.policy.max_failures:
                locked = (now + self.policy.lockout).isoformat()
                await self.db.execute("UPDATE users SET failed_logins = 0, locked_until = ? WHERE username = ?",
                                      (locked, username))
            else:
                await self.db.execute("UPDATE users SET failed_logins = ? WHERE username = ?", (failures, username))
            await self.db.commit()
            raise refused
        await self.db.execute(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, totp_last_step = MAX(totp_last_step, ?)"
            " WHERE username = ?", (step or 0, username))
        await self.db.commit()
        return user

    # -- sessions

    async def start_session(self, username: str) -> tuple[str, Session]:
        """A new session (a fresh id at every login: no fixation). Returns the cookie value."""
        now = time.time()
        await self.db.execute("DELETE FROM sessions WHERE last_seen < ? OR created_at < ?",
                              (now - self.policy.idle_timeout.total_seconds(),
                               now - self.policy.session_max_age.total_seconds()))
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        await self.db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                              (_session_hash(session_id), username, csrf, now, now))
        await self.db.commit()
        session = await self.session(session_id)
        assert session is not None
        return session_id, session

    async def session(self, session_id: str) -> Session | None:
        """The live session for a cookie value, touched; None when unknown, idle or too old."""
        if not session_id or len(session_id) > 100:
            return None
        now = time.time()
        id_hash = _session_hash(session_id)
        async with self.db.execute(
                "SELECT s.username, s.csrf_token, s.created_at, s.last_seen, u.role, u.disabled,"
                " u.password_changed_at FROM sessions s JOIN users u USING (username) WHERE s.id_hash = ?",
                (id_hash,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        username, csrf, created_at, last_seen, role, disabled, changed_at = row
        if (disabled or now - last_seen > self.policy.idle_timeout.total_seconds()
                or now - created_at > self.policy.session_max_age.total_seconds()):
            await self.end_session(session_id)
            return None
        await self.db.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ?", (now, id_hash))
        await self.db.commit()
        expired = _now() - datetime.fromisoformat(changed_at) >= self.policy.max_age
        return Session(username=username, role=Role(role), csrf_token=csrf, must_change_password=expired)

    async def display_name(self, username: str) -> str:
        """The person's name for a printed record; "" when none was given or it cannot be opened."""
        async with self.db.execute("SELECT display_name FROM users WHERE username = ?", (username,)) as cur:
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return ""
        try:
            return self.cipher.open(row[0], aad=_display_name_aad(username)).decode()
        except FieldCryptoError:
            return ""

    async def end_session(self, session_id: str) -> None:
        await self.db.execute("DELETE FROM sessions WHERE id_hash = ?", (_session_hash(session_id),))
        await self.db.commit()


def _user(row) -> User:
    return User(
        username=row["username"], role=Role(row["role"]), disabled=bool(row["disabled"]),
        totp_enabled=bool(row["totp_secret"]), password_changed_at=datetime.fromisoformat(row["password_changed_at"]),
        locked_until=datetime.fromisoformat(row["locked_until"]) if row["locked_until"] else None,
    )


def _shanghai(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%H:%M")
