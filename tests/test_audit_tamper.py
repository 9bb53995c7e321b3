"""An audit trail that survives its database administrator (issue 18, H1).

Someone who can write the audit database, but does not hold the node key nor the witness
file, tampers with it; `querynode audit verify` must name what was done. Each case runs
against SQLite and the real PostgreSQL: change, delete, insert, reorder, a forged anchor (the
red team's erase: insert an anchor, then the delete trigger lets everything below it go), a
cut tail, a re-chain (plain SHA-256 as before, or under another key), wholesale replacement,
a forged witness line. Then: the PostgreSQL node role may only INSERT and SELECT, and purges
run under their own role."""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import stat
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest

from querynode.security.audit_store import AuditRecord, ChainKey, PostgresAuditStore, SqliteAuditStore, chain_hash
from tests.conftest import AUDIT_KEY, PG_DSN, TEST_NODE_KEY, pg_audit, pg_cli_env, sqlite_audit

FIELDS = list(AuditRecord.__dataclass_fields__)
RECORDS = 6


def record(n: int) -> AuditRecord:
    return AuditRecord(
        audit_id=uuid.uuid4().hex, at=f"2026-01-01T00:00:{n:02d}+00:00", request_id=f"r{n}", caller="registry-a",
        operator_id="clerk-007", case_number="2026-110105-000123", purpose="转移登记", operation="VerifyIdentity",
        department="identity", subject_index=f"{n:064x}", outcome="ANSWERED", latency_ms=1.5)


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", "audit", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


class SqliteDb:
    """The audit file as its administrator sees it: plain sqlite3, triggers dropped when asked."""

    table, anchor = "audit", "audit_anchor"

    def __init__(self, tmp_path) -> None:
        self.path = tmp_path / "audit.sqlite"
        self.env = {"QUERYNODE_DATA_DIR": str(tmp_path), "QUERYNODE_NODE_KEY": TEST_NODE_KEY}

    def store(self, key: ChainKey | None = None):
        return sqlite_audit(self.path) if key is None else SqliteAuditStore(self.path, key)

    async def run(self, *statements: str, guards: bool = False, params: list[tuple] = ()) -> None:
        with sqlite3.connect(self.path) as db:
            if not guards:
                db.execute("DROP TRIGGER IF EXISTS audit_no_update")
                db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
            for statement in statements:
                db.execute(statement)
            for statement, *values in params:
                db.execute(statement.replace("$", "?"), values)

    async def rows(self) -> list[tuple]:
        with sqlite3.connect(self.path) as db:
            return [tuple(r) for r in db.execute(f"SELECT seq, {', '.join(FIELDS)}, prev_hash, hash FROM audit "
                                                 "ORDER BY seq")]

    async def replace_store(self) -> None:
        self.path.unlink()
        for suffix in ("-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)


class PostgresDb:
    """The audit table as a database superuser sees it (triggers skipped when asked)."""

    def __init__(self, table: str, tmp_path) -> None:
        self.table, self.anchor = table, f"{table}_anchor"
        self.tmp_path = tmp_path
        self.env = pg_cli_env(table, tmp_path)

    def store(self, key: ChainKey | None = None):
        return pg_audit(self.table, self.tmp_path) if key is None else PostgresAuditStore(PG_DSN, self.table, key=key)

    async def run(self, *statements: str, guards: bool = False, params: list[tuple] = ()) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            async with conn.transaction():
                if not guards:
                    await conn.execute("SET LOCAL session_replication_role = replica")
                for statement in statements:
                    await conn.execute(statement)
                for statement, *values in params:
                    await conn.execute(_numbered(statement), *values)
        finally:
            await conn.close()

    async def rows(self) -> list[tuple]:
        conn = await asyncpg.connect(PG_DSN)
        try:
            return [tuple(r) for r in await conn.fetch(
                f"SELECT seq, {', '.join(FIELDS)}, prev_hash, hash FROM {self.table} ORDER BY seq")]
        finally:
            await conn.close()

    async def replace_store(self) -> None:
        await self.run(f"DROP TABLE {self.table}, {self.anchor} CASCADE")


def _numbered(statement: str) -> str:
    parts = statement.split("$")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request, tmp_path, pg_table):
    """A store of RECORDS records, closed (so its last checkpoint is in the witness)."""
    db = SqliteDb(tmp_path) if request.param == "sqlite" else PostgresDb(pg_table, tmp_path)
    store = db.store()
    await store.open()
    for n in range(1, RECORDS + 1):
        await store.append(record(n))
    await store.close()
    return db


async def verify(db) -> tuple[int, str]:
    return await run_cli("verify", env=db.env)


def rechain(rows: list[tuple], link, start_at: int = 1) -> list[tuple]:
    """UPDATEs giving rows start_at.. new links computed with `link(prev, record)`."""
    updates, prev = [], None
    for seq, *rest in rows:
        values, prev_hash, digest = rest[:-2], rest[-2], rest[-1]
        if seq < start_at:
            prev = digest
            continue
        prev = prev if prev is not None else prev_hash
        digest = link(prev, AuditRecord(*values))
        updates.append(("UPDATE {t} SET prev_hash = $, hash = $ WHERE seq = $", prev, digest, seq))
        prev = digest
    return updates


async def test_an_untouched_store_verifies_against_its_witness(db):
    code, out = await verify(db)
    assert code == 0, out
    assert f"OK: {RECORDS} records, chain intact; witness checkpoint of" in out
    assert f"at seq {RECORDS} holds" in out


async def test_changed_record_is_named(db):
    await db.run(f"UPDATE {db.table} SET outcome = 'NOT_FOUND' WHERE seq = 3")
    code, out = await verify(db)
    assert code == 1 and "seq 3 " in out, out


async def test_deleted_record_is_named(db):
    await db.run(f"DELETE FROM {db.table} WHERE seq = 3")
    code, out = await verify(db)
    assert code == 1 and "seq 4 " in out, out


async def test_inserted_record_is_named(db):
    """A record appended by hand, linked to the head; without the key its MAC cannot be right."""
    rows = await db.rows()
    forged = replace(record(7), caller="registry-b")
    guess = ChainKey(secrets.token_bytes(32)).link(rows[-1][-1], forged)
    await db.run(params=[(f"INSERT INTO {db.table} (seq, {', '.join(FIELDS)}, prev_hash, hash) VALUES "
                          f"({', '.join('$' * (len(FIELDS) + 3))})",
                          7, *(getattr(forged, f) for f in FIELDS), rows[-1][-1], guess)])
    code, out = await verify(db)
    assert code == 1 and "seq 7 " in out, out


async def test_reordered_records_are_named(db):
    """Records 2 and 3 swap contents and links: each link still names its predecessor's MAC."""
    rows = await db.rows()
    two, three = rows[1], rows[2]
    columns = FIELDS + ["prev_hash", "hash"]
    sets = ", ".join(f"{c} = $" for c in columns)
    await db.run(f"UPDATE {db.table} SET audit_id = audit_id || '-moving' WHERE seq IN (2, 3)",
                 params=[(f"UPDATE {db.table} SET {sets} WHERE seq = $", *three[1:], 2),
                         (f"UPDATE {db.table} SET {sets} WHERE seq = $", *two[1:], 3)])
    code, out = await verify(db)
    assert code == 1 and "seq 2 " in out, out


@pytest.mark.parametrize("mac", ["", "hmac-sha256:" + "ab" * 32])
async def test_forged_anchor_then_delete_is_named(db, mac):
    """The red team's erase: with INSERT and DELETE only (triggers in place), an anchor over
    all but the last record, then the delete the trigger then allows."""
    rows = await db.rows()
    last_hash = rows[RECORDS - 2][-1]
    await db.run(
        params=[(f"INSERT INTO {db.anchor} (from_seq, through_seq, prev_hash, last_hash, records, export_file, "
                 f"export_sha256, at, mac) VALUES ($, $, $, $, $, $, $, $, $)",
                 1, RECORDS - 1, "0" * 64, last_hash, RECORDS - 1, "x.jsonl", "0" * 64, "2026-01-02", mac),
                (f"DELETE FROM {db.table} WHERE seq < $", RECORDS)],
        guards=True)
    assert len(await db.rows()) == 1  # the triggers let it happen
    code, out = await verify(db)
    assert code == 1, out
    assert "seq 1 " in out and "not signed by this node" in out


async def test_cut_tail_is_named(db):
    await db.run(f"DELETE FROM {db.table} WHERE seq >= {RECORDS - 1}")
    code, out = await verify(db)
    assert code == 1, out
    assert f"record seq {RECORDS} is missing (cut off)" in out


async def test_rechain_with_plain_sha256_after_an_edit_is_named(db):
    """Change record 3 and recompute every link from there, as the old chain allowed."""
    await db.run(f"UPDATE {db.table} SET outcome = 'NOT_FOUND' WHERE seq = 3")
    updates = rechain(await db.rows(), chain_hash, start_at=3)
    await db.run(params=[(u[0].format(t=db.table), *u[1:]) for u in updates])
    code, out = await verify(db)
    assert code == 1 and "seq 3 " in out, out


async def test_rechain_under_another_key_is_named(db):
    await db.run(f"UPDATE {db.table} SET outcome = 'NOT_FOUND' WHERE seq = 3")
    updates = rechain(await db.rows(), ChainKey(secrets.token_bytes(32)).link, start_at=3)
    await db.run(params=[(u[0].format(t=db.table), *u[1:]) for u in updates])
    code, out = await verify(db)
    assert code == 1 and "seq 3 " in out, out


async def test_whole_chain_rewritten_as_plain_sha256_is_named_by_the_witness(db):
    """Every record re-chained from the genesis hash the old unkeyed way (which the store still
    reads for records from before keyed chains): only the witness can tell."""
    await db.run(f"UPDATE {db.table} SET outcome = 'NOT_FOUND' WHERE seq = 3")
    updates = rechain(await db.rows(), chain_hash, start_at=1)
    await db.run(params=[(u[0].format(t=db.table), *u[1:]) for u in updates])
    code, out = await verify(db)
    assert code == 1, out
    assert f"record seq {RECORDS} differs: the witness checkpoint" in out


async def test_wholesale_replacement_is_named(db):
    """The store replaced by one its administrator wrote with a key of their own."""
    await db.replace_store()
    store = db.store(ChainKey(secrets.token_bytes(32)))
    await store.open()
    for n in range(1, RECORDS + 1):
        await store.append(replace(record(n), outcome="NOT_FOUND"))
    await store.close()
    code, out = await verify(db)
    assert code == 1 and "seq 1 " in out, out


async def test_emptied_store_is_named_by_the_witness(db):
    await db.replace_store()
    store = db.store(ChainKey(secrets.token_bytes(32)))
    await store.open()
    await store.close()
    code, out = await verify(db)
    assert code == 1 and f"record seq {RECORDS} is missing" in out, out


async def test_forged_witness_line_is_named(db, tmp_path):
    witness = tmp_path / "audit-witness.jsonl"
    line = json.loads(witness.read_text().splitlines()[-1])
    line["seq"] = 1
    with open(witness, "a") as fh:
        fh.write(json.dumps(line) + "\n")
    code, out = await verify(db)
    assert code == 1 and "is not a checkpoint signed with this node's audit key" in out, out


async def test_witness_is_0600_and_checkpoints_follow_the_head(tmp_path):
    store = sqlite_audit(tmp_path / "audit.sqlite", checkpoint_seconds=3600)
    await store.open()
    try:
        await store.append(record(1))
        await store.append(record(2))
        checkpoint = await store.checkpoint()
        assert (checkpoint.seq, checkpoint.anchors) == (2, 0)
        assert checkpoint.head == (await store.head())[1] and checkpoint.head.startswith("hmac-sha256:")
        assert await store.checkpoint() is None  # nothing changed: nothing written
    finally:
        await store.close()
    for path in (tmp_path / "audit-witness.jsonl", tmp_path / "audit.sqlite", tmp_path / "audit.sqlite-wal"):
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tmp_path / "audit.sqlite").stat().st_mode) == 0o600


async def test_sm3_profile_chains_with_hmac_sm3(tmp_path):
    key = ChainKey(bytes.fromhex(TEST_NODE_KEY), "sm3")
    store = SqliteAuditStore(tmp_path / "audit.sqlite", key)
    await store.open()
    try:
        await store.append(record(1))
        assert (await store.head())[1].startswith("hmac-sm3:")
        assert await store.verify_chain() is None
    finally:
        await store.close()
    # The same node key under the default profile still reads it (each MAC names its algorithm),
    # and what it appends then is HMAC-SHA256 on the same chain.
    store = SqliteAuditStore(tmp_path / "audit.sqlite", AUDIT_KEY)
    await store.open()
    try:
        await store.append(record(2))
        assert (await store.head())[1].startswith("hmac-sha256:")
        assert await store.verify_chain() is None
        await SqliteDb(tmp_path).run("UPDATE audit SET outcome = 'X' WHERE seq = 1")
        assert await store.verify_chain() == 1
    finally:
        await store.close()


# ------------------------------------------------------------ PostgreSQL roles


@pytest.fixture
async def pg_roles(pg_table):
    """A node role (INSERT and SELECT only) and a purge role, made for this test and dropped after."""
    suffix = secrets.token_hex(4)
    node_role, purge_role = f"qn_node_{suffix}", f"qn_purge_{suffix}"
    owner = PostgresAuditStore(PG_DSN, pg_table, key=AUDIT_KEY)
    await owner.open()  # the schema, created by its owner (the deployment's migration step)
    await owner.close()
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(_grants(pg_table, node_role, purge_role))
    finally:
        await conn.close()
    yield node_role, purge_role
    conn = await asyncpg.connect(PG_DSN)
    try:
        for role in (node_role, purge_role):
            await conn.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
    finally:
        await conn.close()


def _grants(t: str, node: str, purge: str) -> str:
    """The GRANTs the README's security section and deploy/postgres/audit-roles.sql give."""
    return f"""
        CREATE ROLE {node} LOGIN; CREATE ROLE {purge} LOGIN;
        GRANT SELECT, INSERT ON {t} TO {node}; GRANT SELECT ON {t}_anchor TO {node};
        GRANT USAGE ON SEQUENCE {t}_seq_seq TO {node};
        GRANT SELECT, DELETE ON {t} TO {purge}; GRANT SELECT, INSERT ON {t}_anchor TO {purge};
        GRANT USAGE ON SEQUENCE {t}_anchor_id_seq TO {purge};
    """


def _dsn(role: str) -> str:
    return PG_DSN.replace("postgres@", f"{role}@")


async def test_postgres_node_role_may_only_insert_and_select(pg_table, pg_roles, tmp_path):
    node_role, purge_role = pg_roles
    store = pg_audit(pg_table, tmp_path, dsn=_dsn(node_role))
    await store.open()  # the schema is current: the node role creates nothing
    try:
        for n in range(1, 4):
            await store.append(record(n))
        assert await store.verify_chain() is None
    finally:
        await store.close()
    conn = await asyncpg.connect(_dsn(node_role))
    try:
        for statement in (f"DELETE FROM {pg_table}", f"UPDATE {pg_table} SET outcome = 'X'", f"TRUNCATE {pg_table}",
                          f"INSERT INTO {pg_table}_anchor (from_seq, through_seq, prev_hash, last_hash, records, "
                          f"export_file, export_sha256, at) VALUES (1, 2, 'x', 'x', 2, 'x', 'x', 'x')",
                          f"DROP TABLE {pg_table}", f"ALTER TABLE {pg_table} DISABLE TRIGGER ALL"):
            with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.RaiseError)):
                await conn.execute(statement)
    finally:
        await conn.close()

    env = {**pg_cli_env(pg_table, tmp_path), "QUERYNODE_AUDIT__POSTGRES_DSN": _dsn(node_role),
           "QUERYNODE_AUDIT__PURGE_DSN": _dsn(purge_role)}
    code, out = await run_cli("purge", "--before", "2026-01-01T00:00:03+00:00",
                              "--export-dir", str(tmp_path / "exports"), env=env)
    assert code == 0 and "purged 2 records" in out, out
    code, out = await run_cli("verify", env=env)
    assert code == 0 and "OK: 1 records, chain intact from the anchor" in out, out


async def test_postgres_purge_role_cannot_delete_unanchored_records(pg_table, pg_roles):
    _, purge_role = pg_roles
    store = PostgresAuditStore(PG_DSN, pg_table, key=AUDIT_KEY)
    await store.open()
    try:
        await store.append(record(1))
    finally:
        await store.close()
    conn = await asyncpg.connect(_dsn(purge_role))
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(f"DELETE FROM {pg_table}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f"UPDATE {pg_table} SET outcome = 'X'")
    finally:
        await conn.close()


async def test_sqlite_purge_signs_its_anchor(tmp_path):
    store = sqlite_audit(tmp_path / "audit.sqlite")
    await store.open()
    try:
        for n in range(1, 4):
            await store.append(record(n))
        anchor = await store.purge(datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC), tmp_path / "exports")
        assert anchor.mac.startswith("hmac-sha256:") and anchor.records == 2
        assert await store.verify_chain() is None
        checkpoint = (store.witness.read())[-1]
        assert (checkpoint.seq, checkpoint.anchors) == (3, 1)
    finally:
        await store.close()
