"""Two separate node processes (own ports, own data folders) of one deployment on this machine,
sharing the real local Redis cache and one PostgreSQL audit table: an answer fetched through
one is a cache hit through the other, and both append to one chain that `querynode audit
verify` accepts. The suite fails, never skips, without Redis and PostgreSQL."""
from __future__ import annotations

import asyncio
import secrets
import sys
import uuid

import grpc
import redis.asyncio as redis

from querynode.v1 import querynode_pb2 as pb
from querynode.v1 import querynode_pb2_grpc
from tests.conftest import PG_DSN, ctx
from tests.test_resilience import matching
from tests.test_workers import REDIS_URL, ROOT, node_config, serve

CASE = f"2026-110105-{uuid.uuid4().int % 1_000_000:06d}"



async def cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


async def lookup(target: str, person: dict) -> pb.VerifyIdentityReply:
    async with grpc.aio.insecure_channel(target) as channel:
        return await querynode_pb2_grpc.QueryNodeStub(channel).VerifyIdentity(pb.VerifyIdentityRequest(
            context=ctx(case_number=CASE), id_number=person["id_number"], name=person["name"]), timeout=10)


async def test_two_nodes_share_the_cache_and_one_audit_chain(tmp_path, identity_mock, dept_secret, people,
                                                              pg_table):
    client = redis.from_url(REDIS_URL)
    try:
        assert await client.ping(), "this test needs the real Redis on 127.0.0.1:6379"
    finally:
        await client.aclose()
    node_key = secrets.token_hex(32)  # one deployment: one node key (cache keys and field keys derive from it)
    audit = {"backend": "postgres", "postgres_dsn": PG_DSN, "postgres_table": pg_table}
    configs = [node_config(tmp_path / name, identity_mock.url, dept_secret, node_key=node_key, audit=audit,
                           anonymous_caller=f"registry-{name}")
               for name in ("a", "b")]
    a, b = [await serve(config) for config in configs]
    persons = matching(people)
    try:
        first = await lookup(a.grpc_target, persons[0])
        assert first.verdict == pb.IDENTITY_VERDICT_MATCH and not first.provenance.from_cache
        second = await lookup(b.grpc_target, persons[0])
        assert second.verdict == pb.IDENTITY_VERDICT_MATCH
        assert second.provenance.from_cache and not second.provenance.stale
        assert identity_mock.stats["requests"] == 1
        # Both nodes append at once: the advisory lock keeps one chain.
        replies = await asyncio.gather(*(lookup((a, b)[n % 2].grpc_target, persons[n % len(persons)])
                                         for n in range(20)))
        assert all(r.verdict == pb.IDENTITY_VERDICT_MATCH for r in replies)
    finally:
        codes = [await node.stop() for node in (a, b)]
    assert codes == [0, 0], a.stderr.read_text() + b.stderr.read_text()

    code, out = await cli("audit", "verify", "--config", str(configs[0]))
    assert code == 0, out
    assert out.startswith("OK: 22 records, chain intact")
    code, out = await cli("audit", "search", "--case-number", CASE, "--config", str(configs[1]))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[-1] == "22 record(s)"
    assert sum("registry-a" in line for line in lines) == 11 and sum("registry-b" in line for line in lines) == 11
    audit_ids = {r.provenance.audit_id for r in (first, second, *replies)}
    assert len(audit_ids) == 22 and all(any(i in line for line in lines) for i in audit_ids)
