"""The shared cache on the real local Redis (127.0.0.1:6379): several node processes share
answers. These tests fail, never skip, when Redis is missing."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
import redis.asyncio as redis

from querynode.config import CacheSettings, DepartmentSettings
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, make_settings, start_node
from tests.test_resilience import matching

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_nodes(tmp_path, dept_secret, identity_mock):
    """Two nodes (same node key, separate audit files) sharing the local Redis."""
    client = redis.from_url(REDIS_URL)
    assert await client.ping(), "these tests need the real Redis on 127.0.0.1:6379"
    stops, nodes = [], []
    first = None
    for name in ("a", "b"):
        sub = tmp_path / name
        sub.mkdir()
        settings = make_settings(sub, {"identity": identity_mock.url}, dept_secret,
                                 cache=CacheSettings(backend="redis", redis_url=REDIS_URL))
        if first is not None:  # the second process of the same deployment: same node key
            settings = settings.model_copy(update={"node_key": first.node_key})
        first = first or settings
        conf = settings.departments["identity"]
        settings.departments["identity"] = DepartmentSettings.model_validate(
            {**conf.model_dump(), "cache_ttl_seconds": 0.5})
        running, stop = await start_node(settings)
        nodes.append(running)
        stops.append(stop)
    yield nodes
    for stop in reversed(stops):
        await stop()
    await client.aclose()


async def ask(node, person: dict, **context):
    return await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(**context), id_number=person["id_number"], name=person["name"]), timeout=5)


async def test_second_node_answers_from_the_cache_the_first_filled(redis_nodes, identity_mock, people):
    a, b = redis_nodes
    person = matching(people)[0]
    first = await ask(a, person)
    assert first.verdict == pb.IDENTITY_VERDICT_MATCH and not first.provenance.from_cache
    second = await ask(b, person)
    assert second.verdict == pb.IDENTITY_VERDICT_MATCH
    assert second.provenance.from_cache and not second.provenance.stale
    assert identity_mock.stats["requests"] == 1
    assert b.node.hub.cache.backend_ok


async def test_stale_answer_from_the_shared_cache_when_the_department_is_down(redis_nodes, identity_mock, people):
    a, b = redis_nodes
    person = matching(people)[1]
    await ask(a, person)
    await asyncio.sleep(0.7)  # past the 0.5 s ttl, well within stale_max_age
    async with aiohttp.ClientSession() as session:
        await session.post(f"{identity_mock.url}/_admin/faults", json={"maintenance_seconds": 60})
    stale = await ask(b, person)
    assert stale.verdict == pb.IDENTITY_VERDICT_MATCH
    assert stale.provenance.stale and stale.provenance.cache_age_seconds >= 0.7
    assert identity_mock.stats["requests"] > 1  # b asked the department before falling back


async def test_cache_keys_in_redis_hold_no_personal_data(redis_nodes, people):
    a, _ = redis_nodes
    person = matching(people)[2]
    await ask(a, person)
    client = redis.from_url(REDIS_URL)
    try:
        keys = [k.decode() async for k in client.scan_iter(match="querynode*qn:v1:identity:*")]
        values = [await client.get(k) for k in keys]
    finally:
        await client.aclose()
    assert keys
    assert not any(person["id_number"] in k for k in keys)
    assert not any(person["id_number"].encode() in v for v in values if v)


# ------------------------------------------------- a cache backend that stops answering (M5)


@pytest.fixture
async def black_hole():
    """A real TCP server that accepts connections, reads, and never answers: a hung Redis."""
    connections = []

    async def swallow(reader, writer):
        connections.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], connections
    for writer in connections:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_cache_that_never_answers_does_not_stall_calls(node_for, identity_mock, people, black_hole):
    """The red team's hung Redis made 60 of 60 calls with a 1 s deadline fail. Cache reads and
    writes are bounded by the call's deadline and a short cap, and the cache's breaker then
    skips the backend: every call is answered."""
    port, connections = black_hole
    running = await node_for({"identity": identity_mock.url},
                             cache=CacheSettings(backend="redis", redis_url=f"redis://127.0.0.1:{port}/0"))
    person = people[0]
    replies = []
    for _ in range(60):
        replies.append(await running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
            context=ctx(), id_number=person.id_number, name=person.name), timeout=1.0))
    assert [r.verdict for r in replies] == [pb.IDENTITY_VERDICT_MATCH] * 60
    assert connections  # the node did try the backend
    cache = running.node.hub.cache
    assert cache.breaker.opened >= 1 and cache.breaker.rejected >= 60  # skipped, not waited for
    assert not cache.backend_ok
    assert identity_mock.stats["requests"] == 60  # every lookup went to the department instead


async def test_cache_breaker_probes_again_after_its_cool_down(black_hole):
    """Skipped while open; after the cool-down one call probes the backend (clock injected)."""
    from aiocache import RedisCache
    from aiocache.serializers import NullSerializer

    from querynode.core.cache import ResultCache
    from querynode.core.operations import operation_for
    from querynode.domain.model import IdentityQuery
    from querynode.security.field_crypto import FieldCipher

    port, connections = black_hole
    now = [0.0]
    cache = ResultCache(RedisCache(serializer=NullSerializer(encoding=None), endpoint="127.0.0.1", port=port),
                        {"identity": 60}, 60, FieldCipher({"k": b"k" * 32}, "k"))
    cache.breaker.clock = lambda: now[0]
    op = operation_for(IdentityQuery(id_number="11010519491231002X", name="张三"))
    for _ in range(3):
        assert await cache.get(op, "qn:test") is None
    assert cache.breaker.opened == 1
    asked = len(connections)
    for _ in range(20):
        assert await cache.get(op, "qn:test") is None
    assert cache.breaker.rejected == 20 and len(connections) == asked
    now[0] += 10  # past the cool-down: one probe goes to the backend (and fails again)
    assert await cache.get(op, "qn:test") is None
    assert cache.breaker.opened == 2 and cache.breaker.rejected == 20
    await cache.backend.close()
