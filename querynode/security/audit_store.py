"""Tamper-evident audit store: every call, who, what, when, outcome, hash-chained.

Each record's hash covers the previous record's hash and the record's canonical JSON, so
deleting or editing a row breaks the chain (`verify_chain`). Records hold no personal data
in clear: the subject is a blind index.

Retention (`purge`): every record older than a cutoff is first exported to a JSON Lines file
(fsynced, mode 0600, checked after writing), then one transaction appends an anchor (the seq
range, the hash of the last exported record, the file's name and SHA-256) and deletes exactly
the anchored records. Triggers refuse every other UPDATE, DELETE and TRUNCATE, and anchors
themselves are append-only. `verify_chain` starts from the latest anchor's hash, and the
anchors must link to each other from the genesis hash; `verify_export` checks a file.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, datetime
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
    # Space-separated marks such as "abuse:subjects_outside_cases" (querynode/security/abuse.py).
    flags: str = ""

    def canonical(self) -> bytes:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}  # flat: no deep copy as asdict makes
        if not self.flags:
            del data["flags"]  # records written before the field existed keep their hashes
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, record: AuditRecord) -> str:
    return hashlib.sha256(prev_hash.encode() + record.canonical()).hexdigest()


@dataclass(frozen=True)
class Anchor:
    """One purge: records from_seq..through_seq went to export_file, then were deleted."""

    from_seq: int
    through_seq: int
    prev_hash: str  # the link before from_seq: the previous anchor's last_hash, or GENESIS
    last_hash: str  # hash of record through_seq: the first remaining record's prev_hash
    records: int
    export_file: str
    export_sha256: str
    at: str  # when the purge ran (ISO 8601 UTC)


class PurgeRefused(Exception):
    """A purge that deleted nothing; the message says why (it names no person)."""


class ExportInvalid(Exception):
    """An export file that is unreadable, broken or does not match its anchor."""


_FIELDS = [f for f in AuditRecord.__dataclass_fields__]
_ANCHOR_FIELDS = [f for f in Anchor.__dataclass_fields__]
_EXPORT_KEYS = {"seq", *_FIELDS, "prev_hash", "hash"}


class _ChainStore:
    """What both stores share: verification from the latest anchor, purge with export.

    A store provides `anchors()`, `_rows(through_seq)` (seq, *fields, prev_hash, hash in seq
    order), `_purge_bound(cutoff)` and `_delete_anchored(anchor, anchors_before)`."""

    async def verify_chain(self) -> int | None:
        """The seq of the first broken record (changed, inserted, the one after a deleted one,
        or the first of a purged range whose anchor does not link), or None when the chain holds."""
        broken = None
        for _ in range(2):  # a purge ran between reading the anchors and the rows: read again
            anchors = await self.anchors()
            broken = broken_anchor(anchors)
            if broken is None:
                start, after = (anchors[-1].last_hash, anchors[-1].through_seq) if anchors else (GENESIS, 0)
                async with aclosing(self._rows()) as rows:
                    broken = await first_broken(rows, start, after)
            if broken is None or await self.anchors() == anchors:
                return broken
        return broken

    async def purge(self, before: datetime, export_dir: Path) -> Anchor | None:
        """Export the records older than `before` (a prefix of the chain: it stops at the first
        record that is not older), then delete them under a new anchor. None: nothing to purge.
        Raises PurgeRefused, having deleted nothing, when the export cannot be written or
        checked, the records to purge do not link, or another purge ran meanwhile."""
        if before.tzinfo is None:
            raise ValueError("the purge cutoff must be timezone-aware")
        anchors = await self.anchors()
        if (bad := broken_anchor(anchors)) is not None:
            raise PurgeRefused(f"the chain breaks at record seq {bad}; nothing purged")
        through = await self._purge_bound(before.astimezone(UTC).isoformat())
        if through is None:
            return None
        start = anchors[-1].last_hash if anchors else GENESIS
        async with aclosing(self._rows(through)) as rows:
            anchor = await write_export(rows, Path(export_dir), start)
        await self._delete_anchored(anchor, len(anchors))
        return anchor

    async def latest_anchor(self) -> Anchor | None:
        anchors = await self.anchors()
        return anchors[-1] if anchors else None


def broken_anchor(anchors: Sequence[Anchor]) -> int | None:
    """Anchors must cover consecutive ranges linked from the genesis hash: the from_seq of the
    first that does not, else None."""
    prev_hash, prev_through = GENESIS, 0
    for anchor in anchors:
        if anchor.prev_hash != prev_hash or anchor.from_seq <= prev_through or anchor.through_seq < anchor.from_seq:
            return anchor.from_seq
        prev_hash, prev_through = anchor.last_hash, anchor.through_seq
    return None


async def first_broken(rows, start: str = GENESIS, after: int = 0) -> int | None:
    """Walk (seq, *fields, prev_hash, hash) rows in seq order from `start` (the genesis hash or
    the latest anchor's); the seq of the first record whose link or content does not match: an
    edited record, the one after a deleted record, an inserted one, or one an anchor covers."""
    prev = start
    async for row in rows:
        seq, values, prev_hash, digest = row[0], row[1:-2], row[-2], row[-1]
        if seq <= after or prev_hash != prev or chain_hash(prev, AuditRecord(*values)) != digest:
            return seq
        prev = digest
    return None


# ------------------------------------------------------------------ export files


async def write_export(rows: AsyncIterator[tuple], export_dir: Path, start: str) -> Anchor:
    """Write the rows to a new JSON Lines file in export_dir (mode 0600, fsynced, checked after
    writing), one record per line with seq, prev_hash and hash; the anchor that describes it.
    The name holds the seq and date range and the purge time."""
    purged_at = datetime.now(UTC)
    try:
        export_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = export_dir / f".audit-export-{secrets.token_hex(8)}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise PurgeRefused(f"cannot write the export in {export_dir}: {exc.strerror}; nothing purged") from exc
    digest, prev, count, first, last = hashlib.sha256(), start, 0, None, None
    try:
        with os.fdopen(fd, "wb") as fh:
            lines = []
            async for row in rows:
                seq, values, prev_hash, row_hash = row[0], row[1:-2], row[-2], row[-1]
                record = AuditRecord(*values)
                if prev_hash != prev or chain_hash(prev, record) != row_hash:
                    raise PurgeRefused(f"the chain breaks at record seq {seq}; nothing purged")
                line = json.dumps({"seq": seq, **asdict(record), "prev_hash": prev_hash, "hash": row_hash},
                                  ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                digest.update(line)
                lines.append(line)
                if len(lines) >= 1000:
                    await asyncio.to_thread(fh.writelines, lines)
                    lines = []
                first = first or (seq, record.at)
                last, prev, count = (seq, record.at), row_hash, count + 1
            await asyncio.to_thread(fh.writelines, lines)
            fh.flush()
            await asyncio.to_thread(os.fsync, fh.fileno())
        if count == 0:
            raise PurgeRefused("no record to export; nothing purged")
        name = (f"audit-seq{first[0]}-{last[0]}_{_day(first[1])}-{_day(last[1])}"
                f"_purged{purged_at:%Y%m%dT%H%M%SZ}.jsonl")
        final = export_dir / name
        os.link(partial, final)  # never replaces an existing file
        partial.unlink()
        await asyncio.to_thread(_fsync_dir, export_dir)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise PurgeRefused(f"cannot write the export in {export_dir}: {exc.strerror}; nothing purged") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    anchor = Anchor(from_seq=first[0], through_seq=last[0], prev_hash=start, last_hash=prev, records=count,
                    export_file=name, export_sha256=digest.hexdigest(), at=purged_at.isoformat())
    try:  # read back what the disk holds before anything is deleted
        await asyncio.to_thread(verify_export, final, [anchor])
    except ExportInvalid as exc:
        raise PurgeRefused(f"the export does not read back intact ({exc}); nothing purged") from exc
    return anchor


def _day(at: str) -> str:
    return at[:10].replace("-", "")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify_export(path: Path, anchors: Sequence[Anchor]) -> str:
    """Check an export file on its own (each record links to the one before and its hash
    matches its content) and against its anchor (same range, first link, last hash, count and
    SHA-256). Return a one-line summary; raise ExportInvalid naming what is wrong. Reads the
    file line by line (exports may be large)."""
    sha256, first, last, count = hashlib.sha256(), None, None, 0
    try:
        with open(path, "rb") as fh:
            for count, line in enumerate(fh, 1):
                sha256.update(line)
                item = _export_record(line, count)
                seq, prev = item["seq"], item["prev_hash"] if last is None else last["hash"]
                try:
                    intact = (isinstance(seq, int) and (last is None or seq > last["seq"])
                              and item["prev_hash"] == prev
                              and chain_hash(prev, AuditRecord(*(item[f] for f in _FIELDS))) == item["hash"])
                except (TypeError, AttributeError):
                    intact = False
                if not intact:
                    raise ExportInvalid(f"the exported chain breaks at record seq {seq}")
                first, last = first or item, item
    except OSError as exc:
        raise ExportInvalid(f"cannot read {path}: {exc.strerror}") from exc
    if first is None:
        raise ExportInvalid("the file holds no record")
    anchor = next((a for a in anchors if (a.from_seq, a.through_seq) == (first["seq"], last["seq"])), None)
    if anchor is None:
        raise ExportInvalid(f"no anchor in the audit store covers seq {first['seq']}-{last['seq']}")
    for what, found, expected in (("first link", first["prev_hash"], anchor.prev_hash),
                                  ("last hash", last["hash"], anchor.last_hash),
                                  ("record count", count, anchor.records),
                                  ("SHA-256", sha256.hexdigest(), anchor.export_sha256)):
        if found != expected:
            raise ExportInvalid(f"the file's {what} differs from its anchor's ({found} != {expected})")
    return (f"OK: {count} exported records, seq {anchor.from_seq}-{anchor.through_seq}, chain intact; "
            f"last hash {anchor.last_hash} = anchor of {anchor.at}; sha256 {anchor.export_sha256}")


def _export_record(line: bytes, number: int) -> dict:
    try:
        item = json.loads(line)
    except ValueError:
        item = None
    if not isinstance(item, dict) or set(item) != _EXPORT_KEYS:
        raise ExportInvalid(f"line {number} is not an exported audit record")
    return item


# ----------------------------------------------------------------------- SQLite

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
    hash TEXT NOT NULL,
    flags TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_case ON audit(case_number);
CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject_index);
CREATE TABLE IF NOT EXISTS audit_anchor (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    from_seq INTEGER NOT NULL,
    through_seq INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    last_hash TEXT NOT NULL,
    records INTEGER NOT NULL,
    export_file TEXT NOT NULL,
    export_sha256 TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
DROP TRIGGER IF EXISTS audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN OLD.seq > (SELECT coalesce(max(through_seq), 0) FROM audit_anchor)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_anchor_no_update BEFORE UPDATE ON audit_anchor
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
"""


class SqliteAuditStore(_ChainStore):
    """Audit records in one SQLite file (WAL, synchronous=FULL: fsynced before return)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._pending: list[tuple[AuditRecord, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        # One write transaction: a file from before anchors and flags is migrated in place.
        await self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        async with self._db.execute("PRAGMA table_info(audit)") as cur:
            columns = {row[1] async for row in cur}
        if "flags" not in columns:
            try:
                await self._db.execute("ALTER TABLE audit ADD COLUMN flags TEXT NOT NULL DEFAULT ''")
                await self._db.commit()
            except sqlite3.OperationalError as exc:  # another process migrated it first
                if "duplicate column" not in str(exc):
                    raise

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
                try:
                    # Other processes (workers, nodes) may append to the same file: take the write
                    # lock first, then read the chain head, so no two appends link to one head.
                    await self._db.execute("BEGIN IMMEDIATE")
                    async with self._db.execute(
                            "SELECT coalesce((SELECT hash FROM audit ORDER BY seq DESC LIMIT 1), "
                            "(SELECT last_hash FROM audit_anchor ORDER BY id DESC LIMIT 1))") as cur:
                        last = (await cur.fetchone())[0] or GENESIS
                    rows = []
                    for record, _ in batch:
                        digest = chain_hash(last, record)
                        rows.append([getattr(record, f) for f in _FIELDS] + [last, digest])
                        last = digest
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
                      flagged: bool = False, limit: int | None = None) -> list[AuditRecord]:
        """Records in chain order, optionally those of one case, naming one subject digest, or flagged."""
        assert self._db is not None
        where, params = _filters(case_number, subject, flagged, "?")
        query = f"SELECT {', '.join(_FIELDS)} FROM audit{where} ORDER BY seq"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        async with self._db.execute(query, params) as cur:
            return [AuditRecord(*row) async for row in cur]

    async def head(self) -> tuple[int, str]:
        """Number of records kept and the hash of the last one (record it elsewhere to detect a
        cut tail); after a purge of every record, the latest anchor's hash."""
        assert self._db is not None
        async with self._db.execute(
                "SELECT count(*), coalesce((SELECT hash FROM audit ORDER BY seq DESC LIMIT 1), "
                "(SELECT last_hash FROM audit_anchor ORDER BY id DESC LIMIT 1)) FROM audit") as cur:
            count, last = await cur.fetchone()
        return count, last or GENESIS

    async def anchors(self) -> list[Anchor]:
        assert self._db is not None
        async with self._db.execute(f"SELECT {', '.join(_ANCHOR_FIELDS)} FROM audit_anchor ORDER BY id") as cur:
            return [Anchor(*row) async for row in cur]

    async def _rows(self, through_seq: int | None = None):
        assert self._db is not None
        query = f"SELECT seq, {', '.join(_FIELDS)}, prev_hash, hash FROM audit"
        params: tuple = ()
        if through_seq is not None:
            query, params = query + " WHERE seq <= ?", (through_seq,)
        async with self._db.execute(query + " ORDER BY seq", params) as cur:
            async for row in cur:
                yield tuple(row)

    async def _fetchone(self, query: str, *params):
        async with self._db.execute(query, params) as cur:
            return await cur.fetchone()

    async def _purge_bound(self, cutoff: str) -> int | None:
        (first_kept,) = await self._fetchone("SELECT min(seq) FROM audit WHERE at >= ?", cutoff)
        if first_kept is None:
            (through,) = await self._fetchone("SELECT max(seq) FROM audit")
        else:
            (through,) = await self._fetchone("SELECT max(seq) FROM audit WHERE seq < ?", first_kept)
        return through

    async def _delete_anchored(self, anchor: Anchor, anchors_before: int) -> None:
        assert self._db is not None
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")  # blocks other writers (other processes too)
            try:
                (count,) = await self._fetchone("SELECT count(*) FROM audit_anchor")
                last = await self._fetchone("SELECT hash FROM audit WHERE seq = ?", anchor.through_seq)
                _check_unchanged(anchor, count, anchors_before, last and last[0])
                await self._db.execute(
                    f"INSERT INTO audit_anchor ({', '.join(_ANCHOR_FIELDS)}) "
                    f"VALUES ({', '.join('?' * len(_ANCHOR_FIELDS))})", astuple(anchor))
                async with self._db.execute("DELETE FROM audit WHERE seq <= ?", (anchor.through_seq,)) as cur:
                    _check_deleted(anchor, cur.rowcount)
                await self._db.commit()
            except BaseException:
                await _rollback_quietly(self._db)
                raise


def _check_unchanged(anchor: Anchor, anchors_now: int, anchors_before: int, last_hash: str | None) -> None:
    if anchors_now != anchors_before:
        raise PurgeRefused("another purge ran meanwhile; nothing purged by this one (its export can be deleted)")
    if last_hash != anchor.last_hash:
        raise PurgeRefused(f"record seq {anchor.through_seq} changed during the export; nothing purged")


def _check_deleted(anchor: Anchor, deleted: int) -> None:
    if deleted != anchor.records:
        raise PurgeRefused(f"{deleted} records to delete, {anchor.records} exported; nothing purged")


async def _rollback_quietly(db: aiosqlite.Connection) -> None:
    try:
        await db.rollback()
    except Exception:  # noqa: BLE001 - the connection itself may be the problem
        pass


def _filters(case_number: str | None, subject: str | None, flagged: bool, placeholder: str) -> tuple[str, tuple]:
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
    if flagged:
        clauses.append("flags <> ''")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


# ------------------------------------------------------------------- PostgreSQL

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
    hash TEXT NOT NULL,
    flags TEXT NOT NULL DEFAULT ''
);
ALTER TABLE {t} ADD COLUMN IF NOT EXISTS flags TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS {t}_case ON {t}(case_number);
CREATE TABLE IF NOT EXISTS {t}_anchor (
    id BIGSERIAL PRIMARY KEY,
    from_seq BIGINT NOT NULL,
    through_seq BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    last_hash TEXT NOT NULL,
    records BIGINT NOT NULL,
    export_file TEXT NOT NULL,
    export_sha256 TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE OR REPLACE FUNCTION {t}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = '{t}' THEN
        IF OLD.seq <= (SELECT coalesce(max(through_seq), 0) FROM {t}_anchor) THEN
            RETURN OLD;  -- exported and anchored by `querynode audit purge`
        END IF;
    END IF;
    RAISE EXCEPTION 'audit records are append-only';
END $$;
DROP TRIGGER IF EXISTS {t}_no_change ON {t};
CREATE TRIGGER {t}_no_change BEFORE UPDATE OR DELETE ON {t}
    FOR EACH ROW EXECUTE FUNCTION {t}_append_only();
DROP TRIGGER IF EXISTS {t}_no_truncate ON {t};
CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION {t}_append_only();
DROP TRIGGER IF EXISTS {t}_anchor_no_change ON {t}_anchor;
CREATE TRIGGER {t}_anchor_no_change BEFORE UPDATE OR DELETE ON {t}_anchor
    FOR EACH ROW EXECUTE FUNCTION {t}_append_only();
DROP TRIGGER IF EXISTS {t}_anchor_no_truncate ON {t}_anchor;
CREATE TRIGGER {t}_anchor_no_truncate BEFORE TRUNCATE ON {t}_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION {t}_append_only();
"""
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


class PostgresAuditStore(_ChainStore):
    """Audit records in PostgreSQL (asyncpg), same interface and chain as the SQLite store.

    Appends are group-committed: records that arrive while a commit runs go together in the
    next transaction, each caller returns only once its record is committed. Each transaction
    takes an advisory lock and reads the chain head from the table, so several nodes may
    share one table without forking the chain; a purge takes the same lock. UPDATE, DELETE
    and TRUNCATE are refused by triggers (DELETE allowed only for anchored records);
    `verify_chain` catches what a superuser does around them. Anchors live in `<table>_anchor`.
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
        self._head = (f"SELECT coalesce((SELECT hash FROM {table} ORDER BY seq DESC LIMIT 1), "
                      f"(SELECT last_hash FROM {table}_anchor ORDER BY id DESC LIMIT 1), '{GENESIS}')")

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
            last = await conn.fetchval(self._head)
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
                      flagged: bool = False, limit: int | None = None) -> list[AuditRecord]:
        where, params = _filters(case_number, subject, flagged, "$")
        query = f"SELECT {', '.join(_FIELDS)} FROM {self.table}{where} ORDER BY seq"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        async with self._pool.acquire() as conn:
            return [AuditRecord(*row) for row in await conn.fetch(query, *params)]

    async def head(self) -> tuple[int, str]:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(f"SELECT (SELECT count(*) FROM {self.table}), ({self._head})")
        return row[0], row[1]

    async def anchors(self) -> list[Anchor]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT {', '.join(_ANCHOR_FIELDS)} FROM {self.table}_anchor ORDER BY id")
        return [Anchor(*row) for row in rows]

    async def _rows(self, through_seq: int | None = None):
        query = f"SELECT seq, {', '.join(_FIELDS)}, prev_hash, hash FROM {self.table}"
        params: tuple = ()
        if through_seq is not None:
            query, params = query + " WHERE seq <= $1", (through_seq,)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            async for row in conn.cursor(query + " ORDER BY seq", *params, prefetch=1000):
                yield tuple(row)

    async def _purge_bound(self, cutoff: str) -> int | None:
        async with self._pool.acquire() as conn:
            return await conn.fetchval(
                f"SELECT max(seq) FROM {self.table} WHERE seq < coalesce("
                f"(SELECT min(seq) FROM {self.table} WHERE at >= $1), 9223372036854775807)", cutoff)

    async def _delete_anchored(self, anchor: Anchor, anchors_before: int) -> None:
        async with self._pool.acquire(timeout=self.command_timeout) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock_id)  # appends wait
            count = await conn.fetchval(f"SELECT count(*) FROM {self.table}_anchor")
            last = await conn.fetchval(f"SELECT hash FROM {self.table} WHERE seq = $1", anchor.through_seq)
            _check_unchanged(anchor, count, anchors_before, last)
            await conn.execute(
                f"INSERT INTO {self.table}_anchor ({', '.join(_ANCHOR_FIELDS)}) VALUES "
                f"({', '.join(f'${i}' for i in range(1, len(_ANCHOR_FIELDS) + 1))})", *astuple(anchor))
            status = await conn.execute(f"DELETE FROM {self.table} WHERE seq <= $1", anchor.through_seq,
                                        timeout=max(self.command_timeout, 600))
            _check_deleted(anchor, int(status.split()[-1]))


def store_for(settings) -> SqliteAuditStore | PostgresAuditStore:
    """The audit store `querynode.config.Settings` names (not yet opened)."""
    if settings.audit.backend == "postgres":
        return PostgresAuditStore(settings.audit.postgres_dsn, settings.audit.postgres_table)
    return SqliteAuditStore(settings.audit_path())
