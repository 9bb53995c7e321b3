"""The hash-chained audit trail in SQLite and in the real PostgreSQL: append-only, tamper
detection by `querynode audit verify` (changed, deleted, inserted records), search by case
number and by ID number through the blind index, group commit, and failing closed."""
from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import sys
import uuid
from dataclasses import replace

import asyncpg
import grpc
import pytest

from querynode.config import AuditSettings
from querynode.security.audit_store import GENESIS, AuditRecord, PostgresAuditStore, key_for
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import PG_DSN, TEST_NODE_KEY, ctx, make_settings, pg_audit, pg_cli_env, sqlite_audit, start_node



def record(n: int, case_number: str = "2026-110105-000123") -> AuditRecord:
    return AuditRecord(
        audit_id=uuid.uuid4().hex, at=f"2026-01-01T00:00:{n:02d}+00:00", request_id=f"r{n}", caller="registry-a",
        operator_id="clerk-007", case_number=case_number, purpose="转移登记", operation="VerifyIdentity",
        department="identity", subject_index=f"{n:064x}", outcome="ANSWERED", latency_ms=1.5)


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


# ------------------------------------------------------------------- SQLite


@pytest.fixture
async def sqlite_store(tmp_path):
    store = sqlite_audit(tmp_path / "audit.sqlite")
    await store.open()
    for n in range(1, 6):
        await store.append(record(n))
    yield store
    await store.close()


async def test_sqlite_group_commit_is_one_trip_to_the_append_thread_and_fsynced(tmp_path):
    """A group of appends is one trip to the store's append thread (lock, head, MACs, insert,
    commit), not a hop per statement; every record is committed, on a connection that fsyncs."""
    store = sqlite_audit(tmp_path / "audit.sqlite")
    await store.open()
    try:
        trips = []
        run = store._append_thread.run

        async def counted(fn, *args):
            trips.append(fn)
            return await run(fn, *args)

        store._append_thread.run = counted
        await asyncio.gather(*(store.append(record(n % 60)) for n in range(200)))
        assert trips and len(trips) < 200 and all(fn == store._commit_now for fn in trips)
        with sqlite3.connect(store.path) as other:  # committed: another connection sees them all
            assert other.execute("SELECT count(*) FROM audit").fetchone()[0] == 200
        assert await store.verify_chain() is None
        synchronous = await store._on_append_thread(lambda: store._append_db.execute("PRAGMA synchronous").fetchone())
        assert synchronous == (2,)  # FULL
    finally:
        await store.close()


def sqlite_as_superuser(path, *statements: str) -> None:
    """What someone with the file does: drop the guards, change rows."""
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("DROP TRIGGER audit_no_delete")
        for statement in statements:
            db.execute(statement)


async def test_sqlite_refuses_update_and_delete(sqlite_store):
    assert await sqlite_store.verify_chain() is None
    for statement in ("UPDATE audit SET outcome = 'X'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            with sqlite3.connect(sqlite_store.path) as db:
                db.execute(statement)


@pytest.mark.parametrize("tamper,first_bad", [
    ("UPDATE audit SET caller = 'someone-else' WHERE seq = 3", 3),
    ("DELETE FROM audit WHERE seq = 2", 3),
    ("INSERT INTO audit SELECT 6, 'forged', at, request_id, caller, operator_id, case_number, purpose, "
     "operation, department, subject_index, outcome, latency_ms, prev_hash, hash, flags, source, subject FROM audit "
     "WHERE seq = 4", 6),
])
async def test_sqlite_tampering_named_by_audit_verify(sqlite_store, tmp_path, tamper, first_bad):
    await sqlite_store.close()
    sqlite_as_superuser(sqlite_store.path, tamper)
    code, out = await run_cli("audit", "verify", env={
        "QUERYNODE_DATA_DIR": str(tmp_path), "QUERYNODE_NODE_KEY": TEST_NODE_KEY})
    assert code == 1, out
    assert f"seq {first_bad}" in out


async def test_sqlite_intact_chain_verifies(sqlite_store, tmp_path):
    await sqlite_store.close()
    code, out = await run_cli("audit", "verify", env={
        "QUERYNODE_DATA_DIR": str(tmp_path), "QUERYNODE_NODE_KEY": TEST_NODE_KEY})
    assert code == 0, out
    assert "OK: 5 records" in out


async def test_audit_search_by_case_number_and_by_id_number(tmp_path, identity_mock, dept_secret, people):
    settings = make_settings(tmp_path, {"identity": identity_mock.url}, dept_secret)
    running, stop = await start_node(settings)
    a, b = people[0], people[1]
    try:
        for person, case in ((a, "2026-A"), (b, "2026-B"), (a, "2026-C")):
            await running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
                context=ctx(case_number=case), id_number=person.id_number, name=person.name))
    finally:
        await stop()
    env = {"QUERYNODE_DATA_DIR": str(tmp_path), "QUERYNODE_NODE_KEY": settings.node_key.get_secret_value()}
    code, out = await run_cli("audit", "search", "--id-number", a.id_number.lower(), env=env)
    assert code == 0, out
    assert "2 record(s)" in out and "2026-A" in out and "2026-C" in out and "2026-B" not in out
    assert a.id_number not in out and a.name not in out
    code, out = await run_cli("audit", "search", "--case-number", "2026-B", env=env)
    assert "1 record(s)" in out and "VerifyIdentity" in out
    # Neither the audit file nor anything else the node wrote holds the persons in clear.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for person in (a, b):
                assert person.id_number.encode() not in data and person.name.encode() not in data, path


# --------------------------------------------------------------- PostgreSQL



@pytest.fixture
async def pg_store(pg_table, tmp_path):
    store = pg_audit(pg_table, tmp_path)
    await store.open()
    yield store
    await store.close()


async def superuser(*statements: str) -> None:
    """Tamper as a database superuser would: around the triggers (replica role skips them)."""
    conn = await asyncpg.connect(PG_DSN)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            for statement in statements:
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_postgres_group_commit_keeps_one_chain(pg_store):
    await asyncio.gather(*(pg_store.append(record(n % 60)) for n in range(200)))
    assert await pg_store.verify_chain() is None
    count, head = await pg_store.head()
    assert count == 200 and head != GENESIS
    assert len(await pg_store.records(case_number="2026-110105-000123")) == 200


async def test_postgres_triggers_refuse_update_delete_truncate(pg_store, pg_table):
    await pg_store.append(record(1))
    conn = await asyncpg.connect(PG_DSN)
    try:
        for statement in (f"UPDATE {pg_table} SET outcome = 'X'", f"DELETE FROM {pg_table}", f"TRUNCATE {pg_table}"):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()
    assert len(await pg_store.records()) == 1


@pytest.mark.parametrize("kind", ["changed", "deleted", "inserted"])
async def test_postgres_tampering_named_by_audit_verify(pg_store, pg_table, kind, tmp_path):
    for n in range(1, 6):
        await pg_store.append(record(n))
    seqs = [row for row in await _seqs(pg_table)]
    if kind == "changed":
        await superuser(f"UPDATE {pg_table} SET outcome = 'NOT_FOUND' WHERE seq = {seqs[2]}")
        expected = seqs[2]
    elif kind == "deleted":
        await superuser(f"DELETE FROM {pg_table} WHERE seq = {seqs[1]}")
        expected = seqs[2]
    else:  # a forged record between 3 and 4, linked to 3 so that it looks plausible
        forged = replace(record(9), caller="registry-a")
        await superuser(
            f"UPDATE {pg_table} SET seq = seq * 10",  # make room between 3 and 4
            f"INSERT INTO {pg_table} (seq, audit_id, at, request_id, caller, operator_id, case_number, purpose, "
            f"operation, department, subject_index, outcome, latency_ms, prev_hash, hash) "
            f"SELECT {seqs[2]} * 10 + 5, '{forged.audit_id}', at, request_id, caller, operator_id, case_number, "
            f"purpose, operation, department, subject_index, outcome, latency_ms, hash, hash "
            f"FROM {pg_table} WHERE seq = {seqs[2]} * 10")
        expected = seqs[2] * 10 + 5
    assert await pg_store.verify_chain() == expected
    code, out = await run_cli("audit", "verify", env=pg_cli_env(pg_table, tmp_path))
    assert code == 1, out
    assert f"seq {expected}" in out


async def _seqs(table: str) -> list[int]:
    conn = await asyncpg.connect(PG_DSN)
    try:
        return [r["seq"] for r in await conn.fetch(f"SELECT seq FROM {table} ORDER BY seq")]
    finally:
        await conn.close()


async def test_audit_store_down_fails_closed_and_recovers(tmp_path, identity_mock, dept_secret, people, pg_table):
    settings = make_settings(tmp_path, {"identity": identity_mock.url}, dept_secret,
                             audit=AuditSettings(backend="postgres", postgres_dsn=PG_DSN, postgres_table=pg_table))
    running, stop = await start_node(settings)
    person = people[2]
    request = pb.VerifyIdentityRequest(context=ctx(), id_number=person.id_number, name=person.name)
    try:
        assert (await running.stub.VerifyIdentity(request)).provenance.audit_id
        await superuser(f"ALTER TABLE {pg_table} RENAME TO {pg_table}_away")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await running.stub.VerifyIdentity(request)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "audit" in err.value.details()
        assert person.name not in err.value.details() and person.id_number not in err.value.details()
        await superuser(f"ALTER TABLE {pg_table}_away RENAME TO {pg_table}")
        reply = await running.stub.VerifyIdentity(request)
        assert reply.provenance.audit_id
    finally:
        await stop()
    store = PostgresAuditStore(PG_DSN, pg_table, key=key_for(settings))
    await store.open()
    try:
        records = await store.records()
        # Two answered calls, each with its record; the refused one left none (nothing was released).
        assert len(records) == 2 and await store.verify_chain() is None
        assert {r.audit_id for r in records} >= {reply.provenance.audit_id}
    finally:
        await store.close()


def _grpc_calls(code: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(
        "querynode_calls_total", {"operation": "VerifyIdentity", "door": "grpc", "code": code}) or 0.0


async def _until_the_door_counted_the_call(before: dict[str, float]) -> None:
    """Wait until the gRPC door has counted one more ended call, then a little longer: for a
    record the door would write after counting it."""
    for _ in range(100):
        if _grpc_calls("CANCELLED") + _grpc_calls("INTERNAL") > sum(before.values()):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


async def test_a_call_cancelled_by_its_caller_is_still_audited(node_for, fake_upstream, people):
    """The department was asked; the caller hung up before the answer. The lookup is on record
    once, as CANCELLED, and the door counts the call as CANCELLED: a caller hanging up is not
    the node's error (`make soak` found such calls counted INTERNAL, with a second, door-made
    INTERNAL record beside the hub's)."""
    from aiohttp import web

    asked = asyncio.Event()
    before = {code: _grpc_calls(code) for code in ("CANCELLED", "INTERNAL")}

    async def slow(request):
        asked.set()
        await asyncio.sleep(3)
        return web.Response(status=503)

    running = await node_for({"identity": await fake_upstream(slow)})
    person = people[0]
    call = running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=person.id_number, name=person.name), timeout=10)
    await asyncio.wait_for(asked.wait(), 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    store = running.node.hub.audit.store
    await _until_the_door_counted_the_call(before)
    assert [r.outcome for r in await store.records()] == ["CANCELLED"]
    assert _grpc_calls("CANCELLED") == before["CANCELLED"] + 1 and _grpc_calls("INTERNAL") == before["INTERNAL"]
    assert await store.verify_chain() is None


async def test_a_call_cancelled_while_its_record_commits_has_that_record_only(node_for, identity_mock, samples):
    """A cache hit's record is queued, and the caller hangs up while it commits: that record is
    the call's only one (before, the door counted the call INTERNAL and, the hub's record not
    being committed yet, wrote a second, INTERNAL record for it: `make soak` found 44 calls
    with two records, each cut off as h2load stopped)."""
    from querynode.security.audit_store import INTENT

    running = await node_for({"identity": identity_mock.url})
    store = running.node.hub.audit.store
    person = samples["identity"]["match"][0]

    def lookup(request_id: str):
        return running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
            context=ctx(request_id=request_id), id_number=person["id_number"], name=person["name"]), timeout=10)

    assert not (await lookup("warm-the-cache")).provenance.from_cache
    committing = asyncio.Event()
    append = store.append

    async def slow_commit(record):  # queued at once, as the store does; its caller waits longer
        written = asyncio.ensure_future(append(record))
        if record.outcome != INTENT and not committing.is_set():
            committing.set()
            await asyncio.sleep(1)
        await written

    store.append = slow_commit
    before = {code: _grpc_calls(code) for code in ("CANCELLED", "INTERNAL")}
    call = lookup("hangs-up")
    await asyncio.wait_for(committing.wait(), 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await _until_the_door_counted_the_call(before)
    records = [r.outcome for r in await store.records(all_kinds=True) if r.request_id == "hangs-up"]
    assert records == ["CACHE_HIT"]
    assert _grpc_calls("CANCELLED") == before["CANCELLED"] + 1 and _grpc_calls("INTERNAL") == before["INTERNAL"]
