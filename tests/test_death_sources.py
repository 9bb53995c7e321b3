"""The death check has two sources: 卫健委 death certificates and 民政部 cremation records. With
the 卫健委 down and 殡葬 answering, a deceased party is still found, and the finding says which
source; no cremation record never proves a person alive. Over gRPC, real sockets, every mock."""
from __future__ import annotations

import pytest

from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx


@pytest.fixture
async def node(full_node):
    return full_node


def party(p, role):
    return pb.CaseParty(role=role, name=p.name, id_number=p.id_number)


def living(world):
    return [p for p in world.persons if p.kind == "resident" and p.id_number not in world.deaths
            and not world.acts_of(p.id_number)]


def dead(world):
    return next(d for d in world.deaths.values() if d.person.kind == "resident")


async def transfer(node, seller, buyer) -> pb.CheckCaseResponse:
    return await node.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(), registration_type="transfer", parties=[party(seller, "seller"), party(buyer, "buyer")]),
        timeout=15)


def by_id(reply):
    return {c.check_id: c for c in reply.checks}


async def test_health_commission_down_cremation_still_finds_the_deceased_and_names_it(node, departments, world):
    await departments["death"].stop()
    death = dead(world)
    reply = await transfer(node, death.person, living(world)[0])
    checks = by_id(reply)
    assert checks["death:seller:0"].status == pb.CHECK_STATUS_UNAVAILABLE
    assert checks["cremation:seller:0"].status == pb.CHECK_STATUS_ATTENTION
    assert "火化" in checks["cremation:seller:0"].summary
    [deceased] = [f for f in reply.findings if f.code == "PARTY_DECEASED"]
    assert death.died_on.isoformat() in deceased.message and "民政部殡葬火化记录" in deceased.message
    assert list(deceased.check_ids) == ["cremation:seller:0"] and death.person.name not in deceased.message
    assert reply.status == pb.CASE_STATUS_NEEDS_ATTENTION and not reply.complete
    assert departments["cremation"].stats["queries"] == 2


async def test_health_commission_down_and_no_cremation_is_not_clear(node, departments, world):
    await departments["death"].stop()
    seller, buyer = living(world)[:2]
    reply = await transfer(node, seller, buyer)
    assert reply.status == pb.CASE_STATUS_INCOMPLETE and not reply.complete
    assert not {"PARTY_DECEASED", "DECEDENT_NO_DEATH_RECORD"} & {f.code for f in reply.findings}


async def test_both_sources_up_one_finding_naming_the_certificate(node, departments, world):
    death = dead(world)
    reply = await transfer(node, death.person, living(world)[0])
    [deceased] = [f for f in reply.findings if f.code == "PARTY_DECEASED"]
    assert "卫健委死亡医学证明" in deceased.message and list(deceased.check_ids) == ["death:seller:0"]
    assert reply.complete


async def test_a_decedent_known_only_to_cremation_is_no_blocker(node, departments, world):
    await departments["death"].stop()
    death = dead(world)
    heir = living(world)[0]
    reply = await node.stub.CheckCase(pb.CheckCaseRequest(context=ctx(), registration_type="inheritance", parties=[
        party(death.person, "decedent"), party(heir, "heir")]), timeout=15)
    assert "DECEDENT_NO_DEATH_RECORD" not in {f.code for f in reply.findings}
    assert by_id(reply)["cremation:decedent:0"].status == pb.CHECK_STATUS_OK
