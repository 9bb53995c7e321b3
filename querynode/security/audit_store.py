"""Tamper-evident audit store: every call, who, what, when, outcome, hash-chained.

Each record's hash covers the previous record's hash and the record's canonical JSON, so
deleting or editing a row breaks the chain (`verify_chain`). Records hold no personal data
in clear: the subject is a blind index.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import aiosqlite

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    audit_id: str
    at: str  # ISO 8601 UTC
    request_id: str
    caller: str
    operator_id: str
    case_number: str
    purpose: str
    operation: str
    department: str
    subject_index: str
    outcome: str
    latency_ms: float

    def canonical(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, record: AuditRecord) -> str:
    return hashlib.sha256(prev_hash.encode() + record.canonical()).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    audit_id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    case_number TEXT NOT NULL,
    purpose TEXT NOT NULL,
    operation TEXT NOT NULL,
    department TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_case ON audit(case_number);
CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject_index);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
"""

_FIELDS = [f for f in AuditRecord.__dataclass_fields__]


class SqliteAuditStore:
    """Audit records in one SQLite file (WAL, synchronous=FULL: fsynced before return)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._last_hash = GENESIS
        self._pending: list[tuple[AuditRecord, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" + _SCHEMA)
        async with self._db.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1") as cur:
            row = await cur.fetchone()
        self._last_hash = row[0] if row else GENESIS

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer  # what was accepted is written before the file closes
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def append(self, record: AuditRecord) -> None:
        """Return once the record is committed and fsynced. Records that arrive while a commit
        is under way go into the next one together (group commit): one fsync for many calls."""
        if self._db is None:
            raise RuntimeError("audit store is not open")
        done = asyncio.get_running_loop().create_future()
        self._pending.append((record, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_pending())
        await done

    async def _write_pending(self) -> None:
        async with self._lock:
            while self._pending and self._db is not None:
                batch, self._pending = self._pending, []
                rows, last = [], self._last_hash
                for record, _ in batch:
                    digest = chain_hash(last, record)
                    rows.append([getattr(record, f) for f in _FIELDS] + [last, digest])
                    last = digest
                try:
                    await self._db.executemany(
                        f"INSERT INTO audit ({', '.join(_FIELDS)}, prev_hash, hash) "
                        f"VALUES ({', '.join('?' * (len(_FIELDS) + 2))})", rows)
                    await self._db.commit()
                except Exception as exc:  # noqa: BLE001 - every waiter of this batch learns it failed
                    await _rollback_quietly(self._db)
                    for _, waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                self._last_hash = last
                for _, waiter in batch:
                    if not waiter.done():
                        waiter.set_result(None)

    async def writable(self) -> bool:
        if self._db is None:
            return False
        try:
            await self._db.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means not writable
            return False

    async def records(self, *, case_number: str | None = None, subject: str | None = None,
                      limit: int | None = None) -> list[AuditRecord]:
        """Records in chain order, optionally those of one case or naming one subject digest."""
        assert self._db is not None
        where, params = _filters(case_number, subject, "?")
        query = f"SELECT {', '.join(_FIELDS)} FROM audit{where} ORDER BY seq"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        async with self._db.execute(query, params) as cur:
            return [AuditRecord(*row) async for row in cur]

    async def verify_chain(self) -> int | None:
        """Return the seq of the first broken record, or None when the chain holds."""
        assert self._db is not None
        async with self._db.execute(f"SELECT seq, {', '.join(_FIELDS)}, prev_hash, hash FROM audit ORDER BY seq") as cur:
            return await first_broken(_aiter_rows(cur))

    async def head(self) -> tuple[int, str]:
        """Number of records and the hash of the last one (record it elsewhere to detect a cut tail)."""
        assert self._db is not None
        async with self._db.execute("SELECT count(*), (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1) FROM audit") as cur:
            count, last = await cur.fetchone()
        return count, last or GENESIS


async def _rollback_quietly(db: aiosqlite.Connection) -> None:
    try:
        await db.rollback()
    except Exception:  # noqa: BLE001 - the connection itself may be the problem
        pass


async def _aiter_rows(cursor):
    async for row in cursor:
        yield tuple(row)


async def first_broken(rows) -> int | None:
    """Walk (seq, *fields, prev_hash, hash) rows in seq order; the seq of the first record whose
    link or content does not match: an edited record, the one after a deleted record, or an
    inserted record."""
    prev = GENESIS
    async for row in rows:
        seq, values, prev_hash, digest = row[0], row[1:-2], row[-2], row[-1]
        if prev_hash != prev or chain_hash(prev, AuditRecord(*values)) != digest:
            return seq
        prev = digest
    return None


def _filters(case_number: str | None, subject: str | None, placeholder: str) -> tuple[str, tuple]:
    clauses, params = [], []

    def mark() -> str:
        return placeholder if placeholder == "?" else f"${len(params)}"

    if case_number is not None:
        params.append(case_number)
        clauses.append(f"case_number = {mark()}")
    if subject is not None:
        # subject_index is space separated digests; match one whole digest.
        params.append(f"% {subject} %")
        clauses.append(f"(' ' || subject_index || ' ') LIKE {mark()}")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


# ----------------------------------------------------------------- PostgreSQL

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS {t} (
    seq BIGSERIAL PRIMARY KEY,
    audit_id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    case_number TEXT NOT NULL,
    purpose TEXT NOT NULL,
    operation TEXT NOT NULL,
    department TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {t}_case ON {t}(case_number);
CREATE OR REPLACE FUNCTION {t}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$;
DROP TRIGGER IF EXISTS {t}_no_change ON {t};
CREATE TRIGGER {t}_no_change BEFORE UPDATE OR DELETE ON {t}
    FOR EACH ROW EXECUTE FUNCTION {t}_append_only();
DROP TRIGGER IF EXISTS {t}_no_truncate ON {t};
CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION {t}_append_only();
"""
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


class PostgresAuditStore:
    """Audit records in PostgreSQL (asyncpg), same interface and chain as the SQLite store.

    Appends are group-committed: records that arrive while a commit runs go together in the
    next transaction, each caller returns only once its record is committed. Each transaction
    takes an advisory lock and reads the chain head from the table, so several nodes may
    share one table without forking the chain. UPDATE, DELETE and TRUNCATE are refused by
    triggers; `verify_chain` catches what a superuser does around them.
    """

    def __init__(self, dsn: str, table: str = "querynode_audit", *, command_timeout: float = 5.0) -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError("audit table name must be lower-case letters, digits and _")
        self.dsn = dsn
        self.table = table
        self.command_timeout = command_timeout
        self._pool = None
        self._pending: list[tuple[AuditRecord, asyncio.Future]] = []
        self._flushing = False
        self._lock_id = int.from_bytes(hashlib.sha256(table.encode()).digest()[:8], "big", signed=True)
        self._insert = (f"INSERT INTO {table} ({', '.join(_FIELDS)}, prev_hash, hash) VALUES "
                        f"({', '.join(f'${i}' for i in range(1, len(_FIELDS) + 3))})")

    async def open(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4,
                                               command_timeout=self.command_timeout)
        async with self._pool.acquire() as conn:
            await conn.execute(f"SELECT pg_advisory_lock({self._lock_id})")
            try:
                await conn.execute(_PG_SCHEMA.format(t=self.table))
            finally:
                await conn.execute(f"SELECT pg_advisory_unlock({self._lock_id})")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def append(self, record: AuditRecord) -> None:
        if self._pool is None:
            raise RuntimeError("audit store is not open")
        done = asyncio.get_running_loop().create_future()
        self._pending.append((record, done))
        if not self._flushing:
            self._flushing = True
            asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._commit([record for record, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiter learns the failure
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._flushing = False

    async def _commit(self, records: list[AuditRecord]) -> None:
        async with self._pool.acquire(timeout=self.command_timeout) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock_id)
            last = await conn.fetchval(f"SELECT hash FROM {self.table} ORDER BY seq DESC LIMIT 1") or GENESIS
            rows = []
            for record in records:
                digest = chain_hash(last, record)
                rows.append([getattr(record, f) for f in _FIELDS] + [last, digest])
                last = digest
            await conn.executemany(self._insert, rows)

    async def writable(self) -> bool:
        if self._pool is None:
            return False
        try:
            async with self._pool.acquire(timeout=self.command_timeout) as conn:
                return await conn.fetchval("SELECT NOT pg_is_in_recovery()")
        except Exception:  # noqa: BLE001 - any failure means not writable
            return False

    async def records(self, *, case_number: str | None = None, subject: str | None = None,
                      limit: int | None = None) -> list[AuditRecord]:
        where, params = _filters(case_number, subject, "$")
        query = f"SELECT {', '.join(_FIELDS)} FROM {self.table}{where} ORDER BY seq"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        async with self._pool.acquire() as conn:
            return [AuditRecord(*row) for row in await conn.fetch(query, *params)]

    async def verify_chain(self) -> int | None:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = conn.cursor(f"SELECT seq, {', '.join(_FIELDS)}, prev_hash, hash FROM {self.table} ORDER BY seq",
                                 prefetch=1000)
            return await first_broken(_aiter_rows(cursor))

    async def head(self) -> tuple[int, str]:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT count(*), (SELECT hash FROM {self.table} ORDER BY seq DESC LIMIT 1) FROM {self.table}")
        return row[0], row[1] or GENESIS


def store_for(settings) -> "SqliteAuditStore | PostgresAuditStore":
    """The audit store `querynode.config.Settings` names (not yet opened)."""
    if settings.audit.backend == "postgres":
        return PostgresAuditStore(settings.audit.postgres_dsn, settings.audit.postgres_table)
    return SqliteAuditStore(settings.audit_path())
