"""VerifyIdentity over a real gRPC socket against the mock Ministry of Public Security."""
from __future__ import annotations

import asyncio
import socket
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, make_settings, start_node


def bad_request_fields(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None, "INVALID_ARGUMENT must carry google.rpc.Status details"
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            detail.Unpack(br)
            fields += [v.field for v in br.field_violations]
    return fields


async def test_matching_person_gives_match(node, samples):
    person = samples["identity"]["match"][0]
    reply = await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=person["id_number"], name=person["name"]))
    assert reply.verdict == pb.IDENTITY_VERDICT_MATCH
    assert reply.provenance.department == pb.DEPARTMENT_IDENTITY
    assert reply.provenance.audit_id
    assert reply.provenance.source_time.seconds > time.time() - 60
    assert not reply.provenance.from_cache


@pytest.mark.parametrize("index", range(5))
async def test_every_kind_of_sample_matches(node, samples, index):
    person = samples["identity"]["match"][index]
    reply = await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=person["id_number"], name=person["name"]))
    assert reply.verdict == pb.IDENTITY_VERDICT_MATCH, person["label"]


async def test_wrong_name_gives_mismatch_on_name(node, samples):
    person = samples["identity"]["name_mismatch"][0]
    reply = await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=person["id_number"], name=person["name"]))
    assert reply.verdict == pb.IDENTITY_VERDICT_MISMATCH
    assert list(reply.mismatched_items) == [pb.IDENTITY_ITEM_NAME]


async def test_unknown_number_gives_not_found(node, samples):
    person = samples["identity"]["not_found"][0]
    reply = await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=person["id_number"], name=person["name"]))
    assert reply.verdict == pb.IDENTITY_VERDICT_NOT_FOUND


async def test_lower_case_x_is_normalised(node, people):
    person = next(p for p in people if p.id_number.endswith("X"))
    reply = await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=person.id_number.lower(), name=person.name))
    assert reply.verdict == pb.IDENTITY_VERDICT_MATCH


def _with_bad_check_digit(number: str) -> str:
    last = "0" if number[-1] != "0" else "1"
    return number[:-1] + last


BAD_INPUTS = [
    ("bad check digit", lambda p: (_with_bad_check_digit(p["id_number"]), p["name"]), "id_number"),
    ("31 February", lambda p: ("110105" + "19900231" + "123" + "0", p["name"]), "id_number"),
    ("future birth date", lambda p: ("110105" + "20990101" + "123" + "0", p["name"]), "id_number"),
    ("empty name", lambda p: (p["id_number"], ""), "name"),
    ("200-character name", lambda p: (p["id_number"], "张" * 200), "name"),
    ("digits in name", lambda p: (p["id_number"], "张3"), "name"),
    ("HTML in name", lambda p: (p["id_number"], "<b>张三</b>"), "name"),
    ("control character", lambda p: (p["id_number"], "张\x00三"), "name"),
]


def _fix_check(number: str) -> str:
    from stdnum.cn import ric

    return number[:17] + ric.calc_check_digit(number[:17] + "0")


@pytest.mark.parametrize("label,make,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input_is_invalid_argument_and_never_reaches_department(node, identity_mock, samples, label, make, field):
    number, name = make(samples["identity"]["match"][0])
    if label in ("31 February", "future birth date"):
        number = _fix_check(number)  # only the date is wrong
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(context=ctx(), id_number=number, name=name))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == [field]
    assert identity_mock.stats["requests"] == 0
    assert number not in info.value.details()


@pytest.mark.parametrize("missing", ["case_number", "operator_id", "purpose"])
async def test_missing_context_field_is_invalid_argument(node, identity_mock, samples, missing):
    person = samples["identity"]["match"][0]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
            context=ctx(**{missing: ""}), id_number=person["id_number"], name=person["name"]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == [f"context.{missing}"]
    assert identity_mock.stats["requests"] == 0


async def test_missing_context_is_invalid_argument(node, samples):
    person = samples["identity"]["match"][0]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(id_number=person["id_number"], name=person["name"]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == ["context"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_department_down_gives_source_unavailable_within_deadline(tmp_path, dept_secret, samples):
    settings = make_settings(tmp_path, {"identity": f"http://127.0.0.1:{_closed_port()}"}, dept_secret)
    running, stop = await start_node(settings)
    try:
        person = samples["identity"]["match"][0]
        # answered, not DEADLINE_EXCEEDED: the refused connection is reported within the caller's deadline
        reply = await running.stub.VerifyIdentity(
            pb.VerifyIdentityRequest(context=ctx(), id_number=person["id_number"], name=person["name"]), timeout=3)
        assert reply.verdict == pb.IDENTITY_VERDICT_SOURCE_UNAVAILABLE
        assert "cannot connect" in reply.provenance.unavailable_reason
        assert person["id_number"] not in reply.provenance.unavailable_reason
    finally:
        await stop()


async def test_hung_department_answers_before_the_callers_deadline(tmp_path, dept_secret, samples):
    async def hang(reader, writer):
        await asyncio.sleep(30)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    running, stop = await start_node(make_settings(tmp_path, {"identity": f"http://127.0.0.1:{port}"}, dept_secret))
    try:
        person = samples["identity"]["match"][0]
        # A reply at all means it came before the caller's deadline (else gRPC raises DEADLINE_EXCEEDED),
        # though the department would hang for 30 s. 3 s leaves the node its full 0.2 s reserve under load.
        reply = await running.stub.VerifyIdentity(
            pb.VerifyIdentityRequest(context=ctx(), id_number=person["id_number"], name=person["name"]), timeout=3.0)
        assert reply.verdict == pb.IDENTITY_VERDICT_SOURCE_UNAVAILABLE
    finally:
        await stop()
        server.close()


async def test_second_identical_lookup_is_served_from_cache(node, identity_mock, samples):
    person = samples["identity"]["match"][0]
    request = pb.VerifyIdentityRequest(context=ctx(), id_number=person["id_number"], name=person["name"])
    first = await node.stub.VerifyIdentity(request)
    second = await node.stub.VerifyIdentity(request)
    assert not first.provenance.from_cache and second.provenance.from_cache
    assert second.verdict == first.verdict
    assert identity_mock.stats["requests"] == 1
    fresh = await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(fresh=True), id_number=person["id_number"], name=person["name"]))
    assert not fresh.provenance.from_cache
    assert identity_mock.stats["requests"] == 2


async def test_every_call_is_audited_without_personal_data(node, samples):
    person = samples["identity"]["match"][0]
    await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=person["id_number"], name=person["name"]))
    with pytest.raises(grpc.aio.AioRpcError):
        await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(context=ctx(), id_number="123", name=person["name"]))
    records = await node.node.audit_store.records()
    assert [r.outcome for r in records] == ["ANSWERED", "INVALID_ARGUMENT"]
    assert records[0].case_number == "2026-110105-000123" and records[0].caller == "test-registry"
    raw = node.node.settings.audit_path().read_bytes()
    assert person["id_number"].encode() not in raw
    assert person["name"].encode() not in raw
    assert await node.node.audit_store.verify_chain() is None
