"""Bad input never harms other calls (issue 18, H2): one record that cannot be stored fails
its own call only; the rest of its group commit is written. Counted, never timed."""
from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace

import aiohttp
import pytest

from querynode.security.audit_store import AuditRecord, Unstorable
from tests.conftest import json_ctx, pg_audit, sqlite_audit

CALLS = 300


def record(n: int, **change) -> AuditRecord:
    return replace(AuditRecord(
        audit_id=uuid.uuid4().hex, at="2026-01-01T00:00:00+00:00", request_id=f"r{n}", caller="registry-a",
        operator_id="clerk-007", case_number="2026-110105-000123", purpose="转移登记", operation="VerifyIdentity",
        department="identity", subject_index=f"{n:064x}", outcome="ANSWERED", latency_ms=1.5), **change)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request, tmp_path, pg_table):
    store = sqlite_audit(tmp_path / "audit.sqlite") if request.param == "sqlite" else pg_audit(pg_table, tmp_path)
    await store.open()
    await store.append(record(0, audit_id="taken"))
    yield store
    await store.close()


async def append_all(store, records: list[AuditRecord]) -> list[BaseException | None]:
    return await asyncio.gather(*(store.append(r) for r in records), return_exceptions=True)


async def test_a_record_that_cannot_be_encoded_fails_alone(store):
    records = [record(n) for n in range(1, CALLS + 1)]
    records[CALLS // 2] = record(0, case_number="2026-\ud800")  # a lone surrogate: no UTF-8 for it
    results = await append_all(store, records)
    failed = [i for i, r in enumerate(results) if r is not None]
    assert failed == [CALLS // 2]
    assert isinstance(results[CALLS // 2], Unstorable) and "\ud800" not in str(results[CALLS // 2])
    assert len(await store.records()) == CALLS  # the 299 others and the first record
    assert await store.verify_chain() is None


async def test_a_record_the_database_refuses_fails_alone(store):
    """Passes every check before the transaction (a duplicate audit id): the group commit
    fails, each record is retried alone, and only that one fails."""
    records = [record(n) for n in range(1, CALLS + 1)]
    records[7] = record(0, audit_id="taken")
    results = await append_all(store, records)
    assert [i for i, r in enumerate(results) if r is not None] == [7]
    assert len(await store.records()) == CALLS
    assert await store.verify_chain() is None


async def test_a_store_that_is_down_fails_every_call_of_the_batch(tmp_path):
    store = sqlite_audit(tmp_path / "audit.sqlite")
    await store.open()
    try:
        await store._db.execute("DROP TABLE audit")  # every insert now fails
        results = await append_all(store, [record(n) for n in range(1, 50)])
        assert all(isinstance(r, Exception) for r in results)
    finally:
        await store.close()


async def test_one_hostile_string_under_load_fails_no_other_call(node, samples):
    """The red team's case: `"case_number": "2026-\\ud800"` among concurrent legitimate calls."""
    person = samples["identity"]["match"][0]
    good = {"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]}
    hostile = json.dumps({**good, "context": {**json_ctx(), "case_number": "2026-PLACEHOLDER"}}).replace(
        "PLACEHOLDER", "\\ud800").encode()
    url = f"{node.http_url}/api/v1/identity/verify"

    async with aiohttp.ClientSession() as session:
        async def call(raw: bytes | None) -> int:
            kwargs = {"data": raw} if raw is not None else {"json": good}
            async with session.post(url, headers={"Content-Type": "application/json"}, **kwargs) as resp:
                await resp.read()
                return resp.status

        statuses = await asyncio.gather(*(call(hostile if n == CALLS // 2 else None) for n in range(CALLS)))
    others = statuses[:CALLS // 2] + statuses[CALLS // 2 + 1:]
    assert others.count(200) == CALLS - 1, sorted(set(others))
    assert statuses[CALLS // 2] < 500
    records = await node.node.hub.audit.store.records()
    assert len(records) == CALLS  # the hostile call is on record too
    assert await node.node.hub.audit.store.verify_chain() is None
