"""A unified social credit code goes to the register of its registration authority (GB 32100,
first character): 1 中央编办, 5 民政部 社会组织, 9 市场监管总局. Every other authority has no online
register: the check is left to a person with the reason, never "not found". Requests are counted
at the mock departments, over real sockets."""
from __future__ import annotations

import random

import pytest

from mocks.world import make_credit_code
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx


@pytest.fixture
async def node(full_node):
    return full_node


def asked(departments) -> dict[str, int]:
    """Organisation queries each register received."""
    return {"credit_code": len(departments["credit_code"].requests),
            "organ": len(departments["organ"].requests), "social_org": len(departments["social_org"].requests)}


def seller(world):
    return next(p for p in world.persons if p.kind == "resident" and p.id_number not in world.deaths
                and not world.acts_of(p.id_number))


async def buy(node, world, credit_code: str, name: str) -> pb.CheckCaseResponse:
    s = seller(world)
    return await node.stub.CheckCase(pb.CheckCaseRequest(context=ctx(), registration_type="transfer", parties=[
        pb.CaseParty(role="seller", name=s.name, id_number=s.id_number),
        pb.CaseParty(role="buyer", credit_code=credit_code, organization_name=name)]), timeout=15)


def org_check(reply) -> pb.CaseCheck:
    return next(c for c in reply.checks if c.kind == "organization")


@pytest.mark.parametrize("first, register", [("1", "organ"), ("5", "social_org"), ("9", "credit_code")])
async def test_each_authority_reaches_its_register(node, departments, world, first, register):
    org = next(o for o in world.organizations if o.credit_code[0] == first and o.status == "存续"
               and "银行" not in o.name)
    reply = await buy(node, world, org.credit_code, org.name)
    assert asked(departments) == {d: int(d == register) for d in ("credit_code", "organ", "social_org")}
    check = org_check(reply)
    assert check.status == pb.CHECK_STATUS_OK and org.name in check.summary
    assert not {f.code for f in reply.findings} & {"ORG_NOT_FOUND", "ORG_NAME_MISMATCH"}


@pytest.mark.parametrize("first, category, reason", [("N", "2", "农业"), ("3", "1", "司法行政"), ("Y", "1", "")])
async def test_an_authority_without_online_register_is_left_to_a_person(node, departments, world, first, category,
                                                                         reason):
    code = make_credit_code(random.Random(7), first, category, "110105")
    reply = await buy(node, world, code, "北京市朝阳区某某经济合作社")
    assert asked(departments) == {"credit_code": 0, "organ": 0, "social_org": 0}
    check = org_check(reply)
    assert check.status == pb.CHECK_STATUS_UNAVAILABLE
    assert "须人工核验" in check.summary and f"首位为 {first}" in check.summary and reason in check.summary
    assert "ORG_NOT_FOUND" not in {f.code for f in reply.findings}
    assert reply.status == pb.CASE_STATUS_INCOMPLETE and not reply.complete
    assert any("须人工核验" in line for line in reply.recheck)


async def test_a_malformed_code_of_such_an_authority_is_still_refused(node, departments, world):
    import grpc
    code = make_credit_code(random.Random(7), "N", "2", "110105")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await buy(node, world, code[:-2] + ("00" if code[-2:] != "00" else "11"), "某某合作社")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
