"""Tamper-evident audit store: every call, who, what, when, outcome, hash-chained.

Each record's hash covers the previous record's hash and the record's canonical JSON, so
deleting or editing a row breaks the chain (`verify_chain`). Records hold no personal data
in clear: the subject is a blind index.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
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

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" + _SCHEMA)
        async with self._db.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1") as cur:
            row = await cur.fetchone()
        self._last_hash = row[0] if row else GENESIS

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def append(self, record: AuditRecord) -> None:
        if self._db is None:
            raise RuntimeError("audit store is not open")
        async with self._lock:
            digest = chain_hash(self._last_hash, record)
            values = [getattr(record, f) for f in _FIELDS] + [self._last_hash, digest]
            await self._db.execute(
                f"INSERT INTO audit ({', '.join(_FIELDS)}, prev_hash, hash) "
                f"VALUES ({', '.join('?' * len(values))})",
                values,
            )
            await self._db.commit()
            self._last_hash = digest

    async def writable(self) -> bool:
        if self._db is None:
            return False
        try:
            await self._db.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means not writable
            return False

    async def records(self, *, case_number: str | None = None) -> list[AuditRecord]:
        assert self._db is not None
        query = f"SELECT {', '.join(_FIELDS)} FROM audit"
        params: tuple = ()
        if case_number is not None:
            query += " WHERE case_number = ?"
            params = (case_number,)
        async with self._db.execute(query + " ORDER BY seq", params) as cur:
            return [AuditRecord(*row) async for row in cur]

    async def verify_chain(self) -> int | None:
        """Return the seq of the first broken record, or None when the chain holds."""
        assert self._db is not None
        prev = GENESIS
        async with self._db.execute(f"SELECT seq, {', '.join(_FIELDS)}, prev_hash, hash FROM audit ORDER BY seq") as cur:
            async for row in cur:
                seq, values, prev_hash, digest = row[0], row[1:-2], row[-2], row[-1]
                if prev_hash != prev or chain_hash(prev, AuditRecord(*values)) != digest:
                    return seq
                prev = digest
        return None
