"""Case checks against all seven mock departments serving one world: each registration type
gives the checks and findings a clerk expects."""
from __future__ import annotations

import asyncio
import json
import time

import aiohttp

import grpc
import pytest

from querynode.security.masking import mask_name
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx



def _latest(world, person):
    acts = sorted(world.acts_of(person.id_number), key=lambda a: (a.registered_on, a.certificate_number))
    return acts[-1] if acts else None


def _spouse(act, person):
    return act.woman if act.man.id_number == person.id_number else act.man


def alive(world, p):
    return p.id_number not in world.deaths and p.kind == "resident"


def unmarried(world):
    return [p for p in world.persons if alive(world, p) and not world.acts_of(p.id_number)]


def married_couples(world):
    """(person, spouse) both alive, currently married to each other."""
    out = []
    for p in world.persons:
        act = _latest(world, p)
        if act and act.op_type in ("IA", "ICA") and alive(world, p):
            spouse = _spouse(act, p)
            if alive(world, spouse) and _latest(world, spouse) == act:
                out.append((p, spouse))
    return out


def party(p, role):
    return pb.CaseParty(role=role, name=p.name, id_number=p.id_number)


def org_party(org, role, **extra):
    return pb.CaseParty(role=role, credit_code=org.credit_code, organization_name=org.name, **extra)


async def check(node, registration_type, parties, **extra):
    reply = await node.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(), registration_type=registration_type, parties=parties, **extra), timeout=10)
    return reply, {f.code for f in reply.findings}


async def test_transfer_between_unmarried_living_persons_is_clear(full_node, world):
    seller, buyer = unmarried(world)[:2]
    reply, codes = await check(full_node, "transfer", [party(seller, "seller"), party(buyer, "buyer")])
    assert reply.status == pb.CASE_STATUS_CLEAR, [f.message for f in reply.findings]
    assert len(reply.checks) == 8 and codes == {"MARRIAGE_NO_RECORD"}


async def test_transfer_whose_seller_is_dead_needs_attention(full_node, world):
    dead = next(d.person for d in world.deaths.values())
    buyer = unmarried(world)[0]
    reply, codes = await check(full_node, "transfer", [party(dead, "seller"), party(buyer, "buyer")])
    assert reply.status == pb.CASE_STATUS_NEEDS_ATTENTION
    assert "PARTY_DECEASED" in codes
    message = next(f.message for f in reply.findings if f.code == "PARTY_DECEASED")
    assert "死亡" in message and dead.name not in message and mask_name(dead.name) in message


async def test_married_seller_needs_spouse_consent_unless_spouse_is_a_party(full_node, world):
    seller, spouse = married_couples(world)[0]
    buyer = unmarried(world)[0]
    reply, codes = await check(full_node, "transfer", [party(seller, "seller"), party(buyer, "buyer")])
    assert "SPOUSE_CONSENT_NEEDED" in codes and reply.status == pb.CASE_STATUS_NEEDS_ATTENTION
    assert mask_name(spouse.name) in next(f.message for f in reply.findings if f.code == "SPOUSE_CONSENT_NEEDED")
    reply, codes = await check(full_node, "transfer",
                               [party(seller, "seller"), party(spouse, "seller"), party(buyer, "buyer")])
    assert "SPOUSE_CONSENT_NEEDED" not in codes and "SPOUSE_IS_PARTY" in codes
    assert reply.status == pb.CASE_STATUS_CLEAR


async def test_unary_and_streaming_doors_give_the_same_checks_findings_and_status(full_node, world):
    """CheckCase builds no per-check entries while it runs (nobody reads them) and computes each
    check's findings once when it seals; the stream builds them as checks end. Both must say
    the same thing about the same case: the dead seller, a married one, a clear buyer."""
    dead = next(d.person for d in world.deaths.values())
    seller, _ = married_couples(world)[0]
    buyer = unmarried(world)[0]
    request = pb.CheckCaseRequest(context=ctx(), registration_type="transfer",
                                  parties=[party(dead, "seller"), party(seller, "seller"), party(buyer, "buyer")])
    unary = await full_node.stub.CheckCase(request, timeout=10)
    events = [event async for event in full_node.stub.CheckCaseStream(request, timeout=10)]
    streamed, summary = [e.check for e in events[:-1]], events[-1].summary

    def checks(items):
        return sorted((c.check_id, c.status, c.summary) for c in items)

    assert checks(streamed) == checks(summary.checks) == checks(unary.checks)
    assert {c.status for c in unary.checks} >= {pb.CHECK_STATUS_OK, pb.CHECK_STATUS_ATTENTION}
    assert [(f.code, f.message) for f in summary.findings] == [(f.code, f.message) for f in unary.findings]
    assert {"PARTY_DECEASED", "SPOUSE_CONSENT_NEEDED"} <= {f.code for f in unary.findings}
    assert summary.status == unary.status == pb.CASE_STATUS_NEEDS_ATTENTION


async def test_inheritance_from_a_married_decedent_names_the_surviving_spouse(full_node, world):
    for death in world.deaths.values():
        act = _latest(world, death.person)
        if act and act.op_type in ("IA", "ICA") and act.registered_on < death.died_on:
            spouse = _spouse(act, death.person)
            if alive(world, spouse):
                break
    else:
        pytest.fail("the world has no married decedent with a living spouse")
    reply, codes = await check(full_node, "inheritance", [party(death.person, "decedent"), party(spouse, "heir")])
    assert "SURVIVING_SPOUSE" in codes and "DECEDENT_NO_DEATH_RECORD" not in codes
    message = next(f.message for f in reply.findings if f.code == "SURVIVING_SPOUSE")
    assert mask_name(spouse.name) in message and "已列为继承人" in message
    assert spouse.name not in message
    reply, codes = await check(full_node, "inheritance", [party(unmarried(world)[0], "decedent")])
    assert "DECEDENT_NO_DEATH_RECORD" in codes


async def test_mortgage_to_a_licensed_bank_is_clear_and_to_an_unverifiable_lender_is_not(full_node, world):
    mortgagor = unmarried(world)[0]
    bank = next(lic for lic in world.licenses if lic.valid)
    reply, codes = await check(full_node, "mortgage", [
        party(mortgagor, "mortgagor"),
        org_party(bank.organization, "mortgagee", license_code=bank.license_code)])
    assert reply.status == pb.CASE_STATUS_CLEAR, [f.message for f in reply.findings]
    # YB01 answers by licence code only: a lender named without one is left to a person, with the reason
    lender = next(o for o in world.organizations if o.name == "北京鑫汇通小额贷款有限公司")
    reply, codes = await check(full_node, "mortgage", [party(mortgagor, "mortgagor"), org_party(lender, "mortgagee")])
    [licence] = [c for c in reply.checks if c.kind == "license"]
    assert licence.status == pb.CHECK_STATUS_UNAVAILABLE and "机构编码" in licence.summary
    assert reply.status == pb.CASE_STATUS_INCOMPLETE
    # no status field: a licence record without a print date is never read as held
    withdrawn = next(lic for lic in world.licenses if not lic.valid)
    reply, codes = await check(full_node, "mortgage", [
        party(mortgagor, "mortgagor"), org_party(withdrawn.organization, "mortgagee", license_code=withdrawn.license_code)])
    [licence] = [c for c in reply.checks if c.kind == "license"]
    assert licence.status == pb.CHECK_STATUS_UNAVAILABLE and reply.status != pb.CASE_STATUS_CLEAR


async def test_first_registration_checks_company_status_and_legal_representative(full_node, world):
    active = next(o for o in world.organizations if o.status == "存续" and alive(world, o.legal_representative))
    reply, codes = await check(full_node, "first", [
        org_party(active, "holder"), party(active.legal_representative, "legal_representative")])
    assert reply.status == pb.CASE_STATUS_CLEAR, [f.message for f in reply.findings]
    revoked = next(o for o in world.organizations if o.status == "吊销")
    other = unmarried(world)[0]
    reply, codes = await check(full_node, "first", [org_party(revoked, "holder"), party(other, "legal_representative")])
    assert {"ORG_REVOKED", "LEGAL_REPRESENTATIVE_DIFFERS"} <= codes


async def test_cancellation_reports_the_holders_death_without_blocking(full_node, world):
    dead = next(d for d in world.deaths.values())
    reply, codes = await check(full_node, "cancellation", [party(dead.person, "holder")])
    assert reply.status == pb.CASE_STATUS_CLEAR
    assert dead.died_on.isoformat() in reply.checks[0].summary


@pytest.mark.parametrize("registration_type,role", [("correction", "applicant"), ("objection", "applicant"),
                                                    ("advance_notice", "buyer"), ("change", "holder")])
async def test_identity_and_death_only_types(full_node, world, registration_type, role):
    reply, codes = await check(full_node, registration_type, [party(unmarried(world)[0], role)])
    assert reply.status == pb.CASE_STATUS_CLEAR and [c.kind for c in reply.checks] == ["cremation", "death", "identity"]


async def test_one_department_down_gives_incomplete_with_the_other_checks_done(full_node, departments, world):
    await departments["marriage"].stop()
    seller, buyer = unmarried(world)[:2]
    reply, _ = await check(full_node, "transfer", [party(seller, "seller"), party(buyer, "buyer")])
    assert reply.status == pb.CASE_STATUS_INCOMPLETE
    statuses = {c.check_id: c.status for c in reply.checks}
    assert statuses["marriage:seller:0"] == pb.CHECK_STATUS_UNAVAILABLE
    assert statuses["identity:seller:0"] == statuses["death:buyer:1"] == pb.CHECK_STATUS_OK
    assert json.loads(reply.record_json)["by_hand"]


def _court_case(world, kind):
    from mocks.court_cases import generate

    return next(c for c in generate(world) if c.kind == kind)


def litigant(lit, role):
    if lit.is_person:
        return pb.CaseParty(role=role, name=lit.name, id_number=lit.identifier)
    return pb.CaseParty(role=role, organization_name=lit.name, credit_code=lit.identifier)


async def test_transfer_by_judgment_checks_the_judgment_and_its_parties(full_node, world):
    sale = _court_case(world, "sale")
    plaintiff, defendant = sale.parties[0], sale.parties[1]
    reply, codes = await check(full_node, "transfer_by_judgment",
                               [litigant(plaintiff, "applicant"), litigant(defendant, "former_owner")],
                               judgment_case_number=sale.case_number)
    assert "JUDGMENT_PARTIES_DIFFER" not in codes and "JUDGMENT_NOT_FOUND" not in codes
    judgment = next(c for c in reply.checks if c.kind == "judgment")
    assert judgment.status == pb.CHECK_STATUS_OK and sale.cause in judgment.summary
    stranger = unmarried(world)[0]
    reply, codes = await check(full_node, "transfer_by_judgment",
                               [party(stranger, "applicant"), litigant(defendant, "former_owner")],
                               judgment_case_number=sale.case_number.replace("（", "(").replace("）", ")"))
    assert "JUDGMENT_PARTIES_DIFFER" in codes
    assert stranger.name not in next(f.message for f in reply.findings if f.code == "JUDGMENT_PARTIES_DIFFER")


async def test_seizure_needs_a_known_ruling(full_node, world, samples):
    seizure = _court_case(world, "seizure")
    debtor = next(p for p in seizure.parties if p.role == "被执行人")
    reply, codes = await check(full_node, "seizure", [litigant(debtor, "holder")],
                               judgment_case_number=seizure.case_number)
    assert "JUDGMENT_NOT_FOUND" not in codes and "JUDGMENT_PARTIES_DIFFER" not in codes
    reply, codes = await check(full_node, "seizure", [litigant(debtor, "holder")],
                               judgment_case_number=samples["court"]["no_record"]["case_number"])
    assert "JUDGMENT_NOT_FOUND" in codes and reply.status == pb.CASE_STATUS_NEEDS_ATTENTION


async def test_pending_court_check_returns_a_handle_and_the_completed_record_later(
        world, dept_secret, start_mock, node_for, identity_mock):
    from mocks.court import CourtDepartment

    court = await start_mock(CourtDepartment, slow_after=1.5)
    running = await node_for({"identity": identity_mock.url, "court": court.url})
    case = _court_case(world, "pending")
    lit = next(p for p in case.parties if p.is_person)
    request = pb.CheckCaseRequest(context=ctx(), registration_type="seizure", parties=[litigant(lit, "holder")],
                                  judgment_case_number=case.case_number)
    reply = await running.stub.CheckCase(request, timeout=1.0)
    assert reply.status == pb.CASE_STATUS_INCOMPLETE and reply.handle
    assert {c.kind: c.status for c in reply.checks}["judgment"] == pb.CHECK_STATUS_PENDING
    for _ in range(50):
        later = await running.stub.GetCaseResult(pb.GetCaseResultRequest(context=ctx(), handle=reply.handle))
        if later.status != pb.CASE_STATUS_INCOMPLETE:
            break
        await asyncio.sleep(0.2)
    assert later.status != pb.CASE_STATUS_INCOMPLETE and later.record_id != reply.record_id
    assert {c.kind: c.status for c in later.checks}["judgment"] in (pb.CHECK_STATUS_OK, pb.CHECK_STATUS_ATTENTION)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.GetCaseResult(pb.GetCaseResultRequest(context=ctx(), handle="f" * 32))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_checks_run_in_parallel_not_one_after_another(full_node, departments, world):
    """Every department the case needs is asked before any of them has answered (each takes 1.5 s):
    checks run one after the other would ask the next department only after an answer."""
    async with aiohttp.ClientSession() as session:
        for mock in departments.values():
            async with session.post(f"{mock.url}/_admin/faults", json={"latency": "1500"}) as resp:
                assert resp.status == 200
    seller, buyer = unmarried(world)[2:4]
    case = asyncio.ensure_future(check(full_node, "transfer", [party(seller, "seller"), party(buyer, "buyer")]))
    asked_before_any_answer: set[str] = set()
    while not any(mock.stats["answered"] for mock in departments.values()):
        asked_before_any_answer |= {name for name, mock in departments.items() if mock.stats["requests"]}
        await asyncio.sleep(0.01)
    reply, _ = await case
    asked = {name for name, mock in departments.items() if mock.stats["requests"]}
    assert reply.status == pb.CASE_STATUS_CLEAR and len(reply.checks) == 8
    assert len(asked) >= 3 and asked_before_any_answer == asked


async def test_change_registration_checks_the_cited_place_name(full_node, world, samples):
    holder = unmarried(world)[0]
    exact = samples["place_name"]["exact"][0]["name"]
    reply, codes = await check(full_node, "change", [party(holder, "holder")], place_name=exact)
    assert reply.status == pb.CASE_STATUS_CLEAR
    assert {c.kind for c in reply.checks} == {"identity", "death", "cremation", "place_name"}
    reply, codes = await check(full_node, "change", [party(holder, "holder")],
                               place_name=samples["place_name"]["not_found"][0]["name"])
    assert "PLACE_NAME_NOT_FOUND" in codes and reply.status == pb.CASE_STATUS_NEEDS_ATTENTION
