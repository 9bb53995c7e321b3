"""Audit retention: `querynode audit purge` exports old records (JSON Lines, fsynced, 0600,
SHA-256 printed) before deleting exactly those under an append-only anchor; the chain then
verifies from the anchor, tampering after a purge is still named, a purge that cannot write
its export deletes nothing, an export verifies on its own, and tables from before anchors and
flags are migrated. SQLite and the real PostgreSQL."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import stat
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from querynode.security.audit_store import (
    GENESIS,
    AuditRecord,
    PostgresAuditStore,
    PurgeRefused,
    chain_hash,
)
from tests.conftest import PG_DSN, TEST_NODE_KEY, pg_audit, pg_cli_env, sqlite_audit

OLD, NEW = "2020-01-01", "2020-06-01"  # records before and after the cutoff below
CUTOFF = "2020-03-01"


def record(n: int, day: str = OLD, flags: str = "") -> AuditRecord:
    return AuditRecord(
        audit_id=uuid.uuid4().hex, at=f"{day}T00:00:{n:02d}.5+00:00", request_id=f"r{n}", caller="registry-a",
        operator_id="clerk-007", case_number="2020-110105-000123", purpose="转移登记", operation="VerifyIdentity",
        department="identity", subject_index=f"{n:064x}", outcome="ANSWERED", latency_ms=1.5, flags=flags)


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", "audit", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


def export_file(out: str) -> Path:
    line = next(line for line in out.splitlines() if line.startswith("exported "))
    return Path(line.rsplit(" to ", 1)[1])


def check_export(path: Path, out: str, expected_rows: list[tuple]) -> None:
    """The printed SHA-256 is the file's; mode 0600; one line per purged record, as stored."""
    data = path.read_bytes()
    assert f"sha256 {hashlib.sha256(data).hexdigest()}  {path.name}" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in data.splitlines()]
    assert [(x["seq"], x["audit_id"], x["prev_hash"], x["hash"]) for x in lines] == expected_rows
    assert lines[0]["prev_hash"] == GENESIS


# ----------------------------------------------------------------------- SQLite


@pytest.fixture
async def sqlite_env(tmp_path):
    """A SQLite audit file with 5 records before the cutoff and 3 after; the CLI environment."""
    store = sqlite_audit(tmp_path / "audit.sqlite")
    await store.open()
    for n in range(1, 6):
        await store.append(record(n, OLD))
    for n in range(6, 9):
        await store.append(record(n, NEW))
    await store.close()
    return store.path, {"QUERYNODE_DATA_DIR": str(tmp_path), "QUERYNODE_NODE_KEY": TEST_NODE_KEY}


def sqlite_rows(path: Path, query: str = "SELECT seq, audit_id, prev_hash, hash FROM audit ORDER BY seq") -> list:
    with sqlite3.connect(path) as db:
        return [tuple(row) for row in db.execute(query)]


def sqlite_as_superuser(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("DROP TRIGGER audit_no_delete")
        for statement in statements:
            db.execute(statement)


async def purge_sqlite(path: Path, env: dict, export_dir: Path) -> str:
    code, out = await run_cli("purge", "--before", CUTOFF, "--export-dir", str(export_dir), env=env)
    assert code == 0, out
    return out


async def test_sqlite_purge_exports_then_deletes_old_records(sqlite_env, tmp_path):
    path, env = sqlite_env
    before = sqlite_rows(path)
    out = await purge_sqlite(path, env, tmp_path / "exports")
    exported = export_file(out)
    assert exported.parent == tmp_path / "exports"
    assert "seq1-5_20200101-20200101" in exported.name
    check_export(exported, out, before[:5])
    assert sqlite_rows(path) == before[5:]  # the newer records stay, unchanged
    anchor = sqlite_rows(path, "SELECT from_seq, through_seq, prev_hash, last_hash, records, export_file, "
                               "export_sha256 FROM audit_anchor")
    sha256 = hashlib.sha256(exported.read_bytes()).hexdigest()
    assert anchor == [(1, 5, GENESIS, before[4][3], 5, exported.name, sha256)]

    code, out = await run_cli("verify", env=env)
    assert code == 0, out
    assert "OK: 3 records, chain intact from the anchor of the purge through seq 5" in out
    code, out = await run_cli("verify", "--export", str(exported), env=env)
    assert code == 0, out
    assert "OK: 5 exported records, seq 1-5, chain intact" in out

    # Nothing left before the cutoff: a second purge deletes nothing and writes nothing.
    code, out = await run_cli("purge", "--before", CUTOFF, "--export-dir", str(tmp_path / "exports"), env=env)
    assert code == 0 and "nothing to purge" in out, out
    assert len(list((tmp_path / "exports").iterdir())) == 1


async def test_sqlite_purge_stops_at_the_first_record_not_older(tmp_path):
    """Records out of time order (clock step): only the prefix of the chain before the cutoff goes."""
    store = sqlite_audit(tmp_path / "audit.sqlite")
    await store.open()
    for n, day in ((1, OLD), (2, NEW), (3, OLD)):
        await store.append(record(n, day))
    try:
        anchor = await store.purge(datetime.fromisoformat(CUTOFF).replace(tzinfo=UTC), tmp_path / "x")
        assert (anchor.from_seq, anchor.through_seq, anchor.records) == (1, 1, 1)
        assert [r.request_id for r in await store.records()] == ["r2", "r3"]
        assert await store.verify_chain() is None
    finally:
        await store.close()


@pytest.mark.parametrize("before,message", [
    (datetime.now(UTC).date().isoformat(), "within audit.retention_days (180 days)"),
    ("last tuesday", "is not an ISO date"),
])
async def test_purge_keeps_the_retention_period_and_refuses_bad_dates(sqlite_env, tmp_path, before, message):
    path, env = sqlite_env
    rows = sqlite_rows(path)
    code, out = await run_cli("purge", "--before", before, "--export-dir", str(tmp_path / "exports"), env=env)
    assert code != 0 and message in out, out
    assert "Traceback" not in out
    assert sqlite_rows(path) == rows and not (tmp_path / "exports").exists()


@pytest.mark.parametrize("make_unwritable", ["export dir is a file", "export dir under a file"])
async def test_sqlite_purge_whose_export_cannot_be_written_deletes_nothing(sqlite_env, tmp_path, make_unwritable):
    path, env = sqlite_env
    rows = sqlite_rows(path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    export_dir = blocker if make_unwritable == "export dir is a file" else blocker / "exports"
    code, out = await run_cli("purge", "--before", CUTOFF, "--export-dir", str(export_dir), env=env)
    assert code == 1, out
    assert "FAILED: cannot write the export" in out and "nothing purged" in out
    assert sqlite_rows(path) == rows
    assert sqlite_rows(path, "SELECT * FROM audit_anchor") == []
    code, out = await run_cli("verify", env=env)
    assert code == 0 and "OK: 8 records" in out, out


async def test_sqlite_purge_refuses_a_broken_chain_and_leaves_no_file(sqlite_env, tmp_path):
    path, env = sqlite_env
    sqlite_as_superuser(path, "UPDATE audit SET outcome = 'NOT_FOUND' WHERE seq = 2")
    rows = sqlite_rows(path)
    code, out = await run_cli("purge", "--before", CUTOFF, "--export-dir", str(tmp_path / "exports"), env=env)
    assert code == 1 and "FAILED: the chain breaks at record seq 2; nothing purged" in out, out
    assert sqlite_rows(path) == rows
    assert list((tmp_path / "exports").iterdir()) == []


async def test_sqlite_after_a_purge_deletes_and_updates_are_still_refused(sqlite_env, tmp_path):
    path, env = sqlite_env
    await purge_sqlite(path, env, tmp_path / "exports")
    for statement in ("DELETE FROM audit WHERE seq = 6", "DELETE FROM audit", "UPDATE audit SET outcome = 'X'",
                      "DELETE FROM audit_anchor", "UPDATE audit_anchor SET through_seq = 8"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"), sqlite3.connect(path) as db:
            db.execute(statement)
    assert len(sqlite_rows(path)) == 3


@pytest.mark.parametrize("tamper,first_bad", [
    ("DELETE FROM audit WHERE seq = 6", 7),  # the first record after the anchor
    ("DELETE FROM audit WHERE seq = 7", 8),
    ("UPDATE audit SET operator_id = 'clerk-008' WHERE seq = 7", 7),
    ("UPDATE audit SET flags = 'abuse:subjects_outside_cases' WHERE seq = 8", 8),
    # a purged record put back: the anchor covers its seq
    (("INSERT INTO audit SELECT 3, 'back', at, request_id, caller, operator_id, case_number, purpose, operation, "
      "department, subject_index, outcome, latency_ms, prev_hash, hash, flags, source, subject FROM audit "
      "WHERE seq = 6"), 3),
])
async def test_sqlite_tampering_after_a_purge_is_named(sqlite_env, tmp_path, tamper, first_bad):
    path, env = sqlite_env
    await purge_sqlite(path, env, tmp_path / "exports")
    sqlite_as_superuser(path, tamper)
    code, out = await run_cli("verify", env=env)
    assert code == 1, out
    assert f"seq {first_bad} " in out


async def test_sqlite_forged_anchor_is_named(sqlite_env, tmp_path):
    """An anchor that does not link to the one before (here: to the genesis hash) is caught."""
    path, env = sqlite_env
    await purge_sqlite(path, env, tmp_path / "exports")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO audit_anchor (from_seq, through_seq, prev_hash, last_hash, records, export_file, "
                   "export_sha256, at) VALUES (6, 6, 'f00', (SELECT hash FROM audit WHERE seq = 6), 1, 'x', 'x', 'x')")
    code, out = await run_cli("verify", env=env)
    assert code == 1 and "seq 6 " in out, out


async def test_an_export_verifies_on_its_own_and_edits_to_it_are_named(sqlite_env, tmp_path):
    path, env = sqlite_env
    exported = export_file(await purge_sqlite(path, env, tmp_path / "exports"))
    lines = exported.read_text(encoding="utf-8").splitlines()

    edited = tmp_path / "edited.jsonl"
    third = json.loads(lines[2])
    third["outcome"] = "NOT_FOUND"
    edited.write_text("\n".join(lines[:2] + [json.dumps(third, ensure_ascii=False)] + lines[3:]) + "\n")
    code, out = await run_cli("verify", "--export", str(edited), env=env)
    assert code == 1 and "FAILED: the exported chain breaks at record seq 3" in out, out

    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:4]) + "\n")  # the last record dropped: no anchor ends there
    code, out = await run_cli("verify", "--export", str(cut), env=env)
    assert code == 1 and "no anchor in the audit store covers seq 1-4" in out, out

    reformatted = tmp_path / "reformatted.jsonl"  # same records, other bytes: the SHA-256 differs
    reformatted.write_text("\n".join(json.dumps(json.loads(line)) for line in lines) + "\n")
    code, out = await run_cli("verify", "--export", str(reformatted), env=env)
    assert code == 1 and "SHA-256 differs from its anchor" in out, out

    for bad in ("not json\n", "", '{"seq": 1}\n'):
        junk = tmp_path / "junk.jsonl"
        junk.write_text(bad)
        code, out = await run_cli("verify", "--export", str(junk), env=env)
        assert code == 1 and "FAILED:" in out and "Traceback" not in out, out
    code, out = await run_cli("verify", "--export", str(tmp_path / "missing.jsonl"), env=env)
    assert code == 1 and "FAILED: cannot read" in out, out


async def test_purging_every_record_keeps_the_chain_going_from_the_anchor(tmp_path):
    store = sqlite_audit(tmp_path / "audit.sqlite")
    await store.open()
    for n in range(1, 4):
        await store.append(record(n))
    anchor = await store.purge(datetime(2021, 1, 1, tzinfo=UTC), tmp_path / "exports")
    assert await store.head() == (0, anchor.last_hash)
    await store.close()
    store = sqlite_audit(tmp_path / "audit.sqlite")  # a restarted node
    await store.open()
    try:
        await store.append(record(4, NEW))
        with sqlite3.connect(store.path) as db:
            assert db.execute("SELECT seq, prev_hash FROM audit").fetchall() == [(4, anchor.last_hash)]
        assert await store.verify_chain() is None
    finally:
        await store.close()


_OLD_SQLITE_SCHEMA = """
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, audit_id TEXT NOT NULL UNIQUE, at TEXT NOT NULL,
    request_id TEXT NOT NULL, caller TEXT NOT NULL, operator_id TEXT NOT NULL, case_number TEXT NOT NULL,
    purpose TEXT NOT NULL, operation TEXT NOT NULL, department TEXT NOT NULL, subject_index TEXT NOT NULL,
    outcome TEXT NOT NULL, latency_ms REAL NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX audit_case ON audit(case_number);
CREATE INDEX audit_subject ON audit(subject_index);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
"""
_OLD_COLUMNS = ("audit_id, at, request_id, caller, operator_id, case_number, purpose, operation, department, "
                "subject_index, outcome, latency_ms")


def old_chain(records: list[AuditRecord]) -> list[tuple]:
    """Rows as the store wrote them before flags existed: the hash over the canonical JSON without `flags`."""
    rows, prev = [], GENESIS
    for r in records:
        data = {k: v for k, v in vars(r).items() if k not in ("flags", "source", "subject")}
        digest = hashlib.sha256(prev.encode() + json.dumps(
            data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
        rows.append((*data.values(), prev, digest))
        prev = digest
    return rows


async def test_sqlite_file_from_before_anchors_and_flags_is_migrated(tmp_path):
    path = tmp_path / "audit.sqlite"
    old = old_chain([record(n) for n in range(1, 4)])
    with sqlite3.connect(path) as db:
        db.executescript(_OLD_SQLITE_SCHEMA)
        db.executemany(f"INSERT INTO audit ({_OLD_COLUMNS}, prev_hash, hash) VALUES ({', '.join('?' * 14)})", old)
    store = sqlite_audit(path)
    await store.open()
    try:
        assert await store.verify_chain() is None  # old hashes hold: empty flags are not hashed
        await store.append(record(4, NEW, flags="abuse:subjects_outside_cases"))
        await store.append(record(5, NEW))
        assert await store.verify_chain() is None
        assert [r.request_id for r in await store.records(flagged=True)] == ["r4"]
        with pytest.raises(sqlite3.IntegrityError, match="append-only"), sqlite3.connect(path) as db:
            db.execute("DELETE FROM audit WHERE seq = 1")
        anchor = await store.purge(datetime.fromisoformat(CUTOFF).replace(tzinfo=UTC), tmp_path / "exports")
        assert (anchor.through_seq, anchor.last_hash) == (3, old[-1][-1])
        assert await store.verify_chain() is None and (await store.head())[0] == 2
    finally:
        await store.close()
    # Opening again changes nothing (the migration runs once).
    store = sqlite_audit(path)
    await store.open()
    try:
        assert await store.verify_chain() is None and len(await store.anchors()) == 1
    finally:
        await store.close()


def test_flags_are_hashed_only_when_present():
    plain, flagged = record(1), record(1, flags="abuse:subjects_outside_cases")
    assert b"flags" not in plain.canonical() and b'"flags":"abuse:' in flagged.canonical()
    assert chain_hash(GENESIS, plain) != chain_hash(GENESIS, flagged)


# ------------------------------------------------------------------- PostgreSQL



@pytest.fixture
async def pg_env(pg_table, tmp_path):
    store = pg_audit(pg_table, tmp_path)
    await store.open()
    for n in range(1, 6):
        await store.append(record(n, OLD))
    for n in range(6, 9):
        await store.append(record(n, NEW))
    yield store, pg_cli_env(pg_table, tmp_path)
    await store.close()


async def pg(query: str, *args, superuser: bool = False) -> list[tuple]:
    conn = await asyncpg.connect(PG_DSN)
    try:
        async with conn.transaction():
            if superuser:  # around the triggers, as a database superuser could
                await conn.execute("SET LOCAL session_replication_role = replica")
            return [tuple(row) for row in await conn.fetch(query, *args)]
    finally:
        await conn.close()


async def test_postgres_purge_exports_then_deletes_old_records(pg_env, tmp_path):
    store, env = pg_env
    table = store.table
    before = await pg(f"SELECT seq, audit_id, prev_hash, hash FROM {table} ORDER BY seq")
    code, out = await run_cli("purge", "--before", CUTOFF, "--export-dir", str(tmp_path / "exports"), env=env)
    assert code == 0, out
    exported = export_file(out)
    check_export(exported, out, before[:5])
    assert await pg(f"SELECT seq, audit_id, prev_hash, hash FROM {table} ORDER BY seq") == before[5:]
    assert await pg(f"SELECT through_seq, last_hash, export_file FROM {table}_anchor") == [
        (before[4][0], before[4][3], exported.name)]
    assert await store.verify_chain() is None
    code, out = await run_cli("verify", env=env)
    assert code == 0 and "OK: 3 records, chain intact from the anchor" in out, out
    code, out = await run_cli("verify", "--export", str(exported), env=env)
    assert code == 0 and "OK: 5 exported records" in out, out
    # Appends go on from the chain's tail; deleting what is left is still refused.
    await store.append(record(9, NEW))
    assert await store.verify_chain() is None
    for statement in (f"DELETE FROM {table}", f"TRUNCATE {table}", f"UPDATE {table} SET outcome = 'X'",
                      f"DELETE FROM {table}_anchor", f"UPDATE {table}_anchor SET through_seq = 0",
                      f"TRUNCATE {table}_anchor"):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pg(statement)
    assert len(await store.records()) == 4


@pytest.mark.parametrize("kind", ["first deleted", "changed", "purged one put back"])
async def test_postgres_tampering_after_a_purge_is_named(pg_env, tmp_path, kind):
    store, _ = pg_env
    table = store.table
    await store.purge(datetime.fromisoformat(CUTOFF).replace(tzinfo=UTC), tmp_path / "exports")
    seqs = [row[0] for row in await pg(f"SELECT seq FROM {table} ORDER BY seq")]
    anchor = await store.latest_anchor()
    if kind == "first deleted":
        await pg(f"DELETE FROM {table} WHERE seq = $1", seqs[0], superuser=True)
        expected = seqs[1]
    elif kind == "changed":
        await pg(f"UPDATE {table} SET case_number = '2020-OTHER' WHERE seq = $1", seqs[1], superuser=True)
        expected = seqs[1]
    else:
        await pg(f"INSERT INTO {table} (seq, audit_id, at, request_id, caller, operator_id, case_number, purpose, "
                 f"operation, department, subject_index, outcome, latency_ms, prev_hash, hash) SELECT $1, 'back', at, "
                 f"request_id, caller, operator_id, case_number, purpose, operation, department, subject_index, "
                 f"outcome, latency_ms, prev_hash, hash FROM {table} WHERE seq = $2", anchor.through_seq, seqs[0],
                 superuser=True)
        expected = anchor.through_seq
    assert await store.verify_chain() == expected


async def test_postgres_purge_whose_export_cannot_be_written_deletes_nothing(pg_env, tmp_path):
    store, env = pg_env
    rows = await pg(f"SELECT * FROM {store.table} ORDER BY seq")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code, out = await run_cli("purge", "--before", CUTOFF, "--export-dir", str(blocker / "exports"), env=env)
    assert code == 1 and "FAILED: cannot write the export" in out, out
    with pytest.raises(PurgeRefused):
        await store.purge(datetime.fromisoformat(CUTOFF).replace(tzinfo=UTC), blocker)
    assert await pg(f"SELECT * FROM {store.table} ORDER BY seq") == rows
    assert await store.anchors() == []


async def test_postgres_purge_while_nodes_append_keeps_one_chain(pg_env, tmp_path):
    """Appends from another store (another node) while the purge runs: the purge's delete takes
    the same advisory lock, the chain holds, and only the old records go."""
    store, _ = pg_env
    other = pg_audit(store.table, tmp_path)
    await other.open()
    try:
        cutoff = datetime.fromisoformat(CUTOFF).replace(tzinfo=UTC)
        anchor, *_ = await asyncio.gather(
            store.purge(cutoff, tmp_path / "exports"),
            *(other.append(record(10 + n % 50, NEW)) for n in range(100)))
        assert anchor.records == 5
        assert await store.verify_chain() is None
        assert (await store.head())[0] == 103
    finally:
        await other.close()


_OLD_PG_SCHEMA = """
CREATE TABLE {t} (
    seq BIGSERIAL PRIMARY KEY, audit_id TEXT NOT NULL UNIQUE, at TEXT NOT NULL, request_id TEXT NOT NULL,
    caller TEXT NOT NULL, operator_id TEXT NOT NULL, case_number TEXT NOT NULL, purpose TEXT NOT NULL,
    operation TEXT NOT NULL, department TEXT NOT NULL, subject_index TEXT NOT NULL, outcome TEXT NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE FUNCTION {t}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$;
CREATE TRIGGER {t}_no_change BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_append_only();
CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION {t}_append_only();
"""


async def test_postgres_table_from_before_anchors_and_flags_is_migrated(pg_table, tmp_path):
    old = old_chain([record(n) for n in range(1, 4)])
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(_OLD_PG_SCHEMA.format(t=pg_table))
        await conn.executemany(f"INSERT INTO {pg_table} ({_OLD_COLUMNS}, prev_hash, hash) VALUES "
                               f"({', '.join(f'${i}' for i in range(1, 15))})", old)
    finally:
        await conn.close()
    store = pg_audit(pg_table, tmp_path)
    await store.open()
    try:
        assert await store.verify_chain() is None
        await store.append(record(4, NEW, flags="abuse:subjects_outside_cases"))
        assert await store.verify_chain() is None
        assert [r.request_id for r in await store.records(flagged=True)] == ["r4"]
        anchor = await store.purge(datetime.fromisoformat(CUTOFF).replace(tzinfo=UTC), tmp_path / "exports")
        assert (anchor.records, anchor.last_hash) == (3, old[-1][-1])
        assert await store.verify_chain() is None and (await store.head())[0] == 1
    finally:
        await store.close()
