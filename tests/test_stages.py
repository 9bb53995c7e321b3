"""Per-stage timers (observability/stages.py): off and silent by default; on, one lookup
through the real node (gRPC and JSON doors) reports every stage it passes. No timing asserted."""
from __future__ import annotations

import aiohttp
import pytest

from querynode.observability import stages
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, json_ctx

# What every lookup passes through in the hub and at the door, on a hit and on a miss.
COMMON = {"decode", "authentication", "validation", "blind_index", "authorization", "abuse", "cache",
          "audit", "response", "encode", "metrics", "logging"}
MISS_ONLY = {"audit_intent", "connector", "cache_put"}


def test_timers_are_off_by_default_and_hand_back_one_shared_no_op():
    assert stages._records is None
    first, second = stages.stage("audit"), stages.stage("cache")
    assert first is second  # nothing allocated per call while off
    with first:
        pass
    assert stages._records is None


async def test_timers_off_record_nothing_during_a_real_lookup(node, samples):
    person = samples["identity"]["match"][0]
    with stages.recording() as during:
        pass  # on and off again: what follows must not land anywhere
    reply = await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=person["id_number"], name=person["name"]))
    assert reply.verdict == pb.IDENTITY_VERDICT_MATCH
    assert during == [] and stages._records is None


async def test_grpc_miss_then_hit_record_every_stage(node, samples):
    person = samples["identity"]["match"][0]
    request = pb.VerifyIdentityRequest(context=ctx(), id_number=person["id_number"], name=person["name"])
    with stages.recording() as miss:
        reply = await node.stub.VerifyIdentity(request)
    assert not reply.provenance.from_cache
    with stages.recording() as hit:
        reply = await node.stub.VerifyIdentity(request)
    assert reply.provenance.from_cache
    miss_totals, hit_totals = stages.per_call(miss), stages.per_call(hit)
    assert set(miss_totals) == COMMON | MISS_ONLY
    assert set(hit_totals) == COMMON
    assert set(miss_totals) <= set(stages.STAGES)
    for cpu_us, wall_us in [*miss_totals.values(), *hit_totals.values()]:
        assert cpu_us >= 0 and wall_us >= 0


async def test_json_lookup_records_every_stage(node, samples):
    person = samples["identity"]["match"][0]
    async with aiohttp.ClientSession() as session:
        with stages.recording() as miss:
            async with session.post(f"{node.http_url}/api/v1/identity/verify", json={
                    "context": json_ctx(), "id_number": person["id_number"], "name": person["name"]}) as resp:
                assert resp.status == 200, await resp.text()
    assert set(stages.per_call(miss)) == COMMON | MISS_ONLY


def test_recording_does_not_nest():
    with stages.recording():
        with pytest.raises(RuntimeError):
            with stages.recording():
                pass
    assert stages._records is None
