"""Verification records kept next to the audit trail (same SQLite file), by id and handle.

Records hold masked personal data only, so they can be printed and attached to the case file.
"""
from __future__ import annotations

from pathlib import Path

import aiosqlite

from querynode.security.files import create_private, opening_alone

_SCHEMA = """
CREATE TABLE IF NOT EXISTS case_records (
    record_id TEXT PRIMARY KEY,
    handle TEXT NOT NULL,
    case_number TEXT NOT NULL,
    created_at TEXT NOT NULL,
    complete INTEGER NOT NULL,
    body BLOB NOT NULL,
    digest TEXT NOT NULL,
    signature TEXT NOT NULL,
    key_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_records_handle ON case_records(handle, created_at);
CREATE TRIGGER IF NOT EXISTS case_records_no_update BEFORE UPDATE ON case_records
BEGIN SELECT RAISE(ABORT, 'verification records are immutable'); END;
"""


class RecordStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        async with opening_alone(self.path):  # workers starting together take turns
            create_private(self.path)
            self._db = await aiosqlite.connect(self.path)
            try:
                await self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" + _SCHEMA)
            except BaseException:
                await self.close()  # aiosqlite's thread would keep the process from exiting
                raise

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def put(self, *, record_id: str, handle: str, case_number: str, created_at: str, complete: bool,
                  body: bytes, digest: str, signature: str, key_id: str) -> None:
        assert self._db is not None
        await self._db.execute(
            "INSERT INTO case_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record_id, handle, case_number, created_at, int(complete), body, digest, signature, key_id))
        await self._db.commit()

    async def by_id(self, record_id: str) -> tuple[bytes, str, str, str] | None:
        assert self._db is not None
        async with self._db.execute(
                "SELECT body, digest, signature, key_id FROM case_records WHERE record_id = ?", (record_id,)) as cur:
            return await cur.fetchone()

    async def latest_for_handle(self, handle: str) -> tuple[str, bytes, str, str, str] | None:
        assert self._db is not None
        async with self._db.execute(
                "SELECT record_id, body, digest, signature, key_id FROM case_records WHERE handle = ? "
                "ORDER BY complete DESC, created_at DESC LIMIT 1", (handle,)) as cur:
            return await cur.fetchone()
