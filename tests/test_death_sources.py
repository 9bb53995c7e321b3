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
    # the seller, the buyer, and the spouse of a married seller (the follow-up asks both sources)
    cremation_checks = [c for c in reply.checks if c.check_id.startswith("cremation:")]
    assert departments["cremation"].stats["queries"] == len(cremation_checks) >= 2


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


# ------------------------------------------------------------------ the spouse's death and the estate dates

def widowed(world):
    """A living person whose latest registration is a marriage to someone who has died since."""
    for person in world.persons:
        deciding = [a for a in world.acts_of(person.id_number) if a.op_type in ("IA", "IB", "ID")]
        if person.id_number in world.deaths or person.kind != "resident" or not deciding or deciding[-1].op_type != "IA":
            continue
        act = deciding[-1]
        spouse = act.woman if act.man.id_number == person.id_number else act.man
        if spouse.id_number in world.deaths:
            return person, world.deaths[spouse.id_number]
    raise AssertionError("the world has no widowed person")


@pytest.mark.parametrize("death_up, source, check_id", [
    (True, "卫健委死亡医学证明", "death:spouse:seller:0"),
    (False, "民政部殡葬火化记录", "cremation:spouse:seller:0"),
])
async def test_the_spouse_death_follow_up_reads_both_sources(node, departments, world, death_up, source, check_id):
    """A widowed seller is not told to get the dead spouse's consent, even with the 卫健委 down:
    the follow-up asks the cremation register too, and the finding says which source found it."""
    if not death_up:
        await departments["death"].stop()
    seller, spouse_death = widowed(world)
    reply = await transfer(node, seller, living(world)[0])
    codes = {f.code for f in reply.findings}
    assert "SPOUSE_CONSENT_NEEDED" not in codes
    [deceased] = [f for f in reply.findings if f.code == "SPOUSE_DECEASED"]
    assert spouse_death.died_on.isoformat() in deceased.message and source in deceased.message
    assert check_id in deceased.check_ids
    checks = by_id(reply)
    assert {"death:spouse:seller:0", "cremation:spouse:seller:0"} <= set(checks)
    assert reply.complete is death_up


def late_couple(world):
    """The world's couple who both died, he (2019) before her (2023)."""
    for act in world.marriages:
        if act.man.id_number in world.deaths and act.woman.id_number in world.deaths \
                and world.deaths[act.man.id_number].died_on < world.deaths[act.woman.id_number].died_on \
                and act.man.name == "钱德明":
            return world.deaths[act.woman.id_number], world.deaths[act.man.id_number]
    raise AssertionError("the world has no late couple")


@pytest.mark.parametrize("death_up", [True, False])
async def test_the_estate_dates_come_from_both_sources(node, departments, world, death_up):
    """Her estate: her husband died before her. With the 卫健委 down, both dates come from the
    cremation register; he is neither a surviving spouse nor one who died after her."""
    if not death_up:
        await departments["death"].stop()
    her, him = late_couple(world)
    heir = living(world)[0]
    reply = await node.stub.CheckCase(pb.CheckCaseRequest(context=ctx(), registration_type="inheritance", parties=[
        party(her.person, "decedent"), party(heir, "heir")]), timeout=15)
    codes = {f.code for f in reply.findings}
    assert "SURVIVING_SPOUSE" not in codes and "DECEDENT_NO_DEATH_RECORD" not in codes
    [estate] = [f for f in reply.findings if f.code == "ESTATE_SPOUSE_DECEASED"]
    assert "先于被继承人死亡" in estate.message and him.died_on.isoformat() in estate.message
    assert ("卫健委死亡医学证明" if death_up else "民政部殡葬火化记录") in estate.message
