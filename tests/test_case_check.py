"""CheckCase / CheckCaseStream / GetCaseResult: plans, fan-out, findings, status, records."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
import grpc
import pytest
from aiohttp import web

from querynode.security.records import RecordSigner
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx
from tests.test_identity_grpc import bad_request_fields


def person(p, role: str) -> pb.CaseParty:
    return pb.CaseParty(role=role, name=p["name"], id_number=p["id_number"])


@pytest.fixture
async def identity_node(node_for, person_departments):
    """A node with the departments a person is checked against (identity, death, marriage)."""
    return await node_for(person_departments)


@pytest.fixture
async def identity_only_node(node_for, identity_mock):
    """A node that only has the identity department: other checks are unavailable."""
    return await node_for({"identity": identity_mock.url})


@pytest.mark.parametrize("change,field", [
    ({"registration_type": "gift_of_the_gods"}, "registration_type"),
    ({"parties": [pb.CaseParty(role="landlord", name="张三", id_number="110105199003071234")]}, "parties[0].role"),
    ({"registration_type": "transfer_by_judgment",
      "parties": [pb.CaseParty(role="applicant", name="张三", id_number="110105199003071239")]}, "judgment_case_number"),
    ({"parties": []}, "parties"),
    ({"place_name": "长安街"}, "place_name"),
])
async def test_invalid_case_requests(identity_node, identity_mock, samples, change, field):
    fields = {"registration_type": "advance_notice",
              "parties": [person(samples["identity"]["match"][0], "buyer")]}
    fields.update(change)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await identity_node.stub.CheckCase(pb.CheckCaseRequest(context=ctx(), **fields))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == [field]
    assert identity_mock.stats["requests"] == 0


async def test_invalid_party_data_names_the_party_field(identity_node, identity_mock, samples):
    good = samples["identity"]["match"][0]
    bad = pb.CaseParty(role="seller", name=good["name"], id_number=good["id_number"][:-1] + "0"
                       if good["id_number"][-1] != "0" else good["id_number"][:-1] + "1")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await identity_node.stub.CheckCase(pb.CheckCaseRequest(
            context=ctx(), registration_type="advance_notice", parties=[person(good, "buyer"), bad]))
    assert bad_request_fields(info.value) == ["parties[1].id_number"]
    assert identity_mock.stats["requests"] == 0


async def test_identity_only_plan_is_clear(identity_node, samples):
    a, b = samples["identity"]["match"][:2]
    reply = await identity_node.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(), registration_type="advance_notice", parties=[person(a, "seller"), person(b, "buyer")]))
    assert reply.status == pb.CASE_STATUS_CLEAR
    assert [c.check_id for c in reply.checks] == ["cremation:buyer:1", "cremation:seller:0", "death:buyer:1",
                                                  "death:seller:0", "identity:buyer:1", "identity:seller:0",
                                                  "marriage:seller:0"]
    assert all(c.status == pb.CHECK_STATUS_OK for c in reply.checks)
    assert [f.code for f in reply.findings] == ["MARRIAGE_NO_RECORD"] and reply.record_id and not reply.handle
    record = json.loads(reply.record_json)
    assert record["status"] == "CLEAR" and record["case"]["case_number"] == "2026-110105-000123"
    assert a["id_number"] not in reply.record_json.decode() and a["name"] not in reply.record_json.decode()


async def test_name_mismatch_needs_attention(identity_node, samples):
    a, wrong = samples["identity"]["match"][0], samples["identity"]["name_mismatch"][0]
    reply = await identity_node.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(), registration_type="advance_notice", parties=[person(wrong, "seller"), person(a, "buyer")]))
    assert reply.status == pb.CASE_STATUS_NEEDS_ATTENTION
    (finding,) = reply.findings
    assert finding.code == "NAME_MISMATCH" and finding.severity == pb.SEVERITY_BLOCKING
    assert "姓名与身份证号码不一致" in finding.message and wrong["name"] not in finding.message
    assert {c.check_id: c.status for c in reply.checks}["identity:seller:0"] == pb.CHECK_STATUS_ATTENTION


async def test_department_missing_makes_the_case_incomplete_with_partial_results(identity_only_node, samples):
    a, b = samples["identity"]["match"][:2]
    reply = await identity_only_node.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(), registration_type="transfer", parties=[person(a, "seller"), person(b, "buyer")]))
    assert reply.status == pb.CASE_STATUS_INCOMPLETE
    statuses = {c.check_id: c.status for c in reply.checks}
    assert statuses["identity:seller:0"] == pb.CHECK_STATUS_OK
    assert statuses["death:seller:0"] == pb.CHECK_STATUS_UNAVAILABLE
    record = json.loads(reply.record_json)
    assert len(record["by_hand"]) == 6 and all("人工核验" in line for line in record["by_hand"])


async def test_stream_sends_checks_in_completion_order_then_summary(node_for, identity_mock, fake_upstream, samples):
    async def slow_death(request):
        await asyncio.sleep(0.4)
        return web.Response(status=503)

    running = await node_for({"identity": identity_mock.url, "death": await fake_upstream(slow_death)})
    a = samples["identity"]["match"][0]
    call = running.stub.CheckCaseStream(pb.CheckCaseRequest(
        context=ctx(request_id="stream-1"), registration_type="inheritance", parties=[person(a, "heir")]), timeout=3)
    # The request id comes first, before any event (unary calls send it with the status).
    assert dict(await call.initial_metadata())["x-request-id"] == "stream-1"
    events = [ev async for ev in call]
    kinds = [ev.WhichOneof("event") for ev in events]
    assert kinds == ["check", "check", "check", "summary"]  # identity, cremation (unreachable), death
    assert {ev.check.check_id for ev in events[:2]} == {"identity:heir:0", "cremation:heir:0"}
    assert events[2].check.check_id == "death:heir:0" and events[2].check.status == pb.CHECK_STATUS_UNAVAILABLE
    assert events[3].summary.status == pb.CASE_STATUS_INCOMPLETE


async def test_record_is_retrievable_and_verifiable(identity_node, samples, tmp_path):
    a, b = samples["identity"]["match"][:2]
    reply = await identity_node.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(), registration_type="advance_notice", parties=[person(a, "seller"), person(b, "buyer")]))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{identity_node.http_url}/api/v1/records/{reply.record_id}") as resp:
            assert resp.status == 200
            saved = await resp.read()
        async with session.get(f"{identity_node.http_url}/records/{reply.record_id}/print",
                               allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/login")  # clerks only
        async with session.get(f"{identity_node.http_url}/api/v1/records/{'0' * 32}") as resp:
            assert resp.status == 404
    assert json.loads(saved)["digest"] == reply.record_digest

    key = tmp_path / "record.pub"
    key.write_bytes(RecordSigner(identity_node.node.settings.read_node_key()).public_pem())
    good = tmp_path / "record.json"
    good.write_bytes(saved)
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(saved.replace("advance_notice".encode(), b"advance_noticf", 1))

    def verify(path):
        return subprocess.run([sys.executable, "-m", "querynode", "record", "verify", str(path), "--public-key", str(key)],
                              capture_output=True, text=True)

    ok, bad = verify(good), verify(tampered)
    assert ok.returncode == 0 and ok.stdout.startswith("OK")
    assert bad.returncode == 1 and "digest does not match" in bad.stdout


async def test_case_check_over_json(identity_node, samples):
    a = samples["identity"]["match"][0]
    body = {"context": {"case_number": "2026-0009", "operator_id": "clerk-1", "purpose": "预告登记"},
            "registration_type": "advance_notice", "parties": [{"role": "buyer", "name": a["name"], "id_number": a["id_number"]}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{identity_node.http_url}/api/v1/cases/check", json=body) as resp:
            assert resp.status == 200
            reply = await resp.json()
        body["parties"][0]["shoe_size"] = "42"
        async with session.post(f"{identity_node.http_url}/api/v1/cases/check", json=body) as resp:
            assert resp.status == 400
            problem = await resp.json(content_type=None)
    assert reply["record"]["status"] == "CLEAR" and reply["digest"].startswith("sha256:")
    assert problem["invalid_params"][0]["name"] == "parties[0].shoe_size"
