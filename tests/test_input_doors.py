"""Bad identifiers and hostile text over both doors (issue 17 deliverable 6, issue 18 H2 and L1):
a typed 400 / INVALID_ARGUMENT with a machine code and a Chinese text, never a 500, and nothing
asked upstream; normalised input answers like the plain form and shares its cache entry and
its blind index (one person, one audit trail)."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from querynode.security.blind_index import identifier_digest
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, json_ctx


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


async def post_raw(node, raw: bytes, path: str = "/api/v1/identity/verify"):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.http_url}{path}", data=raw, headers={"Content-Type": "application/json"}) as r:
            return r.status, r.content_type, await r.json(content_type=None)


async def post(node, body: dict, path: str = "/api/v1/identity/verify"):
    # ensure_ascii keeps lone surrogates as \ud800 escapes, as a hostile client would send them
    return await post_raw(node, json.dumps(body, ensure_ascii=True).encode(), path)


def bad_request(err: grpc.aio.AioRpcError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    status = rpc_status.from_call(err)
    out = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            detail.Unpack(br)
            out += list(br.field_violations)
    return out


BAD_NUMBERS = [
    ("superscript two", "1329291973120²0724", "ID_NON_ASCII_DIGIT"),
    ("Arabic-Indic digits", "".join(chr(0x0660 + int(c)) for c in "11010519491231002") + "X", "ID_NON_ASCII_DIGIT"),
    ("Devanagari digits", "".join(chr(0x0966 + int(c)) for c in "110105194912310021"), "ID_NON_ASCII_DIGIT"),
    ("region 000000", "000000198001011235", "ID_REGION"),
    ("region 990000", "990000198001011234", "ID_FOREIGN_CARD"),
    ("region 900000", "900000198001011238", "ID_FOREIGN_CARD"),
]


@pytest.mark.parametrize("label,number,code", BAD_NUMBERS)
async def test_bad_numbers_are_a_typed_400_over_json(node, identity_mock, label, number, code):
    status, ctype, problem = await post(node, {"context": json_ctx(), "id_number": number, "name": "张三"})
    assert status == 400 and ctype == "application/problem+json", problem
    [param] = problem["invalid_params"]
    assert (param["name"], param["code"]) == ("id_number", code)
    assert param["reason"].startswith("公民身份号码：") and problem["detail"] == param["reason"]
    assert number not in json.dumps(problem, ensure_ascii=False)
    assert identity_mock.stats["requests"] == 0


@pytest.mark.parametrize("label,number,code", BAD_NUMBERS)
async def test_bad_numbers_are_invalid_argument_over_grpc(node, identity_mock, label, number, code):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(context=ctx(), id_number=number, name="张三"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = bad_request(info.value)
    assert (violation.field, violation.reason) == ("id_number", code)
    assert violation.description.startswith("公民身份号码：")
    assert number not in info.value.details()
    assert identity_mock.stats["requests"] == 0


async def test_wrong_check_character_reads_in_chinese_with_its_code(node, samples):
    number = samples["identity"]["match"][0]["id_number"]
    wrong = number[:-1] + ("1" if number[-1] != "1" else "2")
    status, _, problem = await post(node, {"context": json_ctx(), "id_number": wrong, "name": "张三"})
    assert status == 400 and problem["title"] == "请求参数无效"
    assert problem["invalid_params"] == [{"name": "id_number", "code": "ID_CHECK_CHARACTER",
                                          "reason": "公民身份号码：校验位不符（GB 11643）"}]


@pytest.mark.parametrize("where", ["case_number", "operator_id", "purpose"])
async def test_lone_surrogate_in_the_context_is_refused_and_harms_no_other_call(node, samples, where):
    """Issue 18 H2: "case_number": "2026-\\ud800" passed validation and then failed the whole
    audit batch. It is refused at validation; the calls beside it are answered."""
    person = samples["identity"]["match"][0]
    good = {"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]}
    hostile = {**good, "context": json_ctx(**{where: "2026-\ud800"})}
    results = await asyncio.gather(post(node, hostile), *[post(node, good) for _ in range(20)])
    status, ctype, problem = results[0]
    assert status == 400 and ctype == "application/problem+json"
    assert [(p["name"], p["code"]) for p in problem["invalid_params"]] == [(f"context.{where}", "INVALID_UNICODE")]
    assert [r[0] for r in results[1:]] == [200] * 20
    assert all(r[2]["verdict"] == "MATCH" for r in results[1:])


@pytest.mark.parametrize("field,value", [("name", "张\ud800"), ("id_number", "11010519491231002\udfff"),
                                         ("name", "张\ufffe三")])
async def test_surrogates_and_noncharacters_in_query_fields_are_400(node, identity_mock, field, value):
    body = {"context": json_ctx(), "id_number": "11010519491231002X", "name": "张三", field: value}
    status, _, problem = await post(node, body)
    assert status == 400 and problem["invalid_params"][0]["code"] == "INVALID_UNICODE"
    assert identity_mock.stats["requests"] == 0


@pytest.mark.parametrize("raw", [
    b"[" * 1000 + b"]" * 1000,
    b'{"a":' * 1000 + b"1" + b"}" * 1000,
    b'{"context":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"name":' + b'{"x":' * 1000 + b"0" + b"}" * 1000 + b"}",
])
@pytest.mark.parametrize("path", ["/api/v1/identity/verify", "/api/v1/cases/check"])
async def test_json_nested_1000_levels_deep_is_a_400_problem(node, raw, path):
    status, ctype, problem = await post_raw(node, raw, path)
    assert status == 400 and ctype == "application/problem+json", problem
    assert problem["invalid_params"][0]["name"] == "body"


async def test_full_width_number_answers_like_the_ascii_one_and_shares_cache_and_audit_trail(node, samples,
                                                                                         identity_mock):
    """Issue 18 L1: full-width digits split one person's audit trail across two blind indexes."""
    person = samples["identity"]["match"][0]
    ascii_body = {"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]}
    wide_body = {**ascii_body, "id_number": full_width(person["id_number"])}
    status, _, first = await post(node, ascii_body)
    assert status == 200 and first["verdict"] == "MATCH" and not first["provenance"]["from_cache"]
    status, _, second = await post(node, wide_body)
    assert status == 200 and second["verdict"] == "MATCH"
    assert second["provenance"]["from_cache"], "same normalised query, same cache key"
    assert second["warnings"] == ["公民身份号码：已将全角字符转换为半角"]
    reply = await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=full_width(person["id_number"].lower()), name=person["name"]))
    assert reply.verdict == pb.IDENTITY_VERDICT_MATCH and reply.provenance.from_cache
    assert identity_mock.stats["requests"] == 1
    hub = node.node.hub
    digest = identifier_digest(hub.index, person["id_number"])
    trail = await hub.audit.store.records(subject=digest)
    assert {r.audit_id for r in trail} == {first["provenance"]["audit_id"], second["provenance"]["audit_id"],
                                           reply.provenance.audit_id}


async def test_spaced_and_zero_width_names_are_normalised_not_a_mismatch(node, samples):
    """Issue 17: "张 三" kept its space and gave a name mismatch; a zero-width space was refused."""
    person = next(p for p in samples["identity"]["match"] if len(p["name"]) >= 2 and "·" not in p["name"])
    for typed in (person["name"][0] + " " + person["name"][1:], "\ufeff" + person["name"],
                  person["name"][0] + "\u200b" + person["name"][1:]):
        status, _, answer = await post(node, {"context": json_ctx(), "id_number": person["id_number"], "name": typed})
        assert status == 200 and answer["verdict"] == "MATCH", typed
        assert len(answer["warnings"]) == 1 and answer["warnings"][0].startswith("姓名：已去除")


async def test_dotted_uyghur_name_look_alikes_match(node, samples, people):
    person = next(p for p in people if "·" in p.name and p.kind == "resident")
    for dot in (".", "･", "∙", "⋅", "•", "‧", "・"):
        reply = await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
            context=ctx(), id_number=person.id_number, name=person.name.replace("·", dot)))
        assert reply.verdict == pb.IDENTITY_VERDICT_MATCH, dot


@pytest.mark.parametrize("body,expected", [
    ({"context": json_ctx(), "id_number": "11010519491231002X", "name": "张三", "photo": "x"},
     ("photo", "UNKNOWN_FIELD", "photo：不是可识别的字段")),
    ({"context": json_ctx(), "id_number": 110105194912310021, "name": "张三"},
     ("id_number", "NOT_A_STRING", "公民身份号码：应为文本")),
    ({"id_number": "11010519491231002X", "name": "张三"},
     ("context", "CONTEXT_REQUIRED", "请求上下文：必填（受理编号、操作员、查询事由）")),
    ({"context": json_ctx(case_number=""), "id_number": "11010519491231002X", "name": "张三"},
     ("context.case_number", "REQUIRED", "受理编号：必填")),
])
async def test_json_door_messages_are_chinese_with_codes(node, body, expected):
    status, _, problem = await post(node, body)
    assert status == 400
    assert [(p["name"], p["code"], p["reason"]) for p in problem["invalid_params"]] == [expected]


async def test_case_check_keeps_the_code_and_names_the_party(node, samples):
    person = samples["identity"]["match"][0]
    wrong = person["id_number"][:-1] + ("1" if person["id_number"][-1] != "1" else "2")
    body = {"context": json_ctx(), "registration_type": "transfer", "parties": [
        {"role": "seller", "name": person["name"], "id_number": person["id_number"]},
        {"role": "buyer", "name": "张三", "id_number": wrong}]}
    status, _, problem = await post(node, body, "/api/v1/cases/check")
    assert status == 400
    assert problem["invalid_params"] == [{"name": "parties[1].id_number", "code": "ID_CHECK_CHARACTER",
                                          "reason": "当事人2 身份证号：校验位不符（GB 11643）"}]


async def test_case_check_over_grpc_refuses_a_superscript_digit(node, samples):
    person = samples["identity"]["match"][0]
    request = pb.CheckCaseRequest(context=ctx(), registration_type="transfer", parties=[
        pb.CaseParty(role="seller", name=person["name"], id_number=person["id_number"]),
        pb.CaseParty(role="buyer", name="张三", id_number="1329291973120²0724")])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.CheckCase(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.reason) for v in bad_request(info.value)] == [("parties[1].id_number", "ID_NON_ASCII_DIGIT")]


async def test_audit_search_finds_the_trail_however_the_number_is_typed(tmp_path, identity_mock, dept_secret, people):
    import os
    import sys

    from tests.conftest import make_settings, start_node

    settings = make_settings(tmp_path, {"identity": identity_mock.url}, dept_secret)
    running, stop = await start_node(settings)
    person = next(p for p in people if p.kind == "resident")
    try:
        for number in (person.id_number, full_width(person.id_number)):
            await running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
                context=ctx(), id_number=number, name=person.name))
    finally:
        await stop()
    env = {**os.environ, "QUERYNODE_DATA_DIR": str(tmp_path), "QUERYNODE_NODE_KEY": settings.node_key.get_secret_value()}
    for typed in (person.id_number, full_width(person.id_number.lower())):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "querynode", "audit", "search", "--id-number", typed, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out = (await proc.communicate())[0].decode()
        assert proc.returncode == 0 and "2 record(s)" in out, out
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", "audit", "search", "--id-number", "1329291973120²0724", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await proc.communicate())[0].decode()
    assert proc.returncode != 0 and "身份证号" in out and "Traceback" not in out


@pytest.mark.parametrize("where", ["registration_type", "role", "name", "id_number", "organization_name",
                                   "credit_code", "license_code", "judgment_case_number", "place_name", "purpose"])
async def test_a_lone_surrogate_anywhere_in_a_case_is_a_400(node, samples, where):
    person = samples["identity"]["match"][0]
    seller = {"role": "seller", "name": person["name"], "id_number": person["id_number"]}
    body = {"context": json_ctx(), "registration_type": "transfer", "parties": [seller]}
    if where in ("registration_type", "judgment_case_number", "place_name"):
        body[where] = "转移\ud800"
    elif where == "purpose":
        body["context"] = json_ctx(purpose="转移\ud800")
    elif where in ("organization_name", "credit_code", "license_code"):
        body["parties"] = [seller, {"role": "buyer", where: "华鑫\ud800公司"}]
    else:
        seller[where] = seller[where] + "\ud800"
    status, ctype, problem = await post(node, body, "/api/v1/cases/check")
    assert status == 400 and ctype == "application/problem+json", problem


def _credit(first: str, org9: str) -> str:
    from stdnum.cn import uscc
    body = first + "1110105" + org9
    return body + uscc.calc_check_digit(body + "0")


# Every validator case of issue 17, through both doors: (JSON path, body, gRPC method, request, refused?).
ISSUE_17_CASES = [
    ("credit code starting 0", "/api/v1/organizations/lookup", {"credit_code": _credit("0", "600037341")},
     "LookupOrganization", lambda b: pb.LookupOrganizationRequest(context=ctx(), credit_code=b["credit_code"]), True),
    ("bad embedded organisation code", "/api/v1/organizations/lookup", {"credit_code": _credit("9", "600037342")},
     "LookupOrganization", lambda b: pb.LookupOrganizationRequest(context=ctx(), credit_code=b["credit_code"]), True),
    ("licence Z9999Z999999999", "/api/v1/licenses/query", {"license_code": "Z9999Z999999999"},
     "QueryFinancialLicense", lambda b: pb.QueryFinancialLicenseRequest(context=ctx(), license_code=b["license_code"]),
     True),
    *[(f"case number {n}", "/api/v1/judgments/query", {"case_number": n}, "QueryJudgments",
       lambda b: pb.QueryJudgmentsRequest(context=ctx(), case_number=b["case_number"]), False)
      for n in ["（2023）京0105执1234号之一", "（2023）京0105执协12号", "（2023）京0105执他3号", "（2023）京01民辖4号",
                "（2023）京0105民撤5号", "（2023）京0105行保6号", "（2023）京0105强清7号", "（2023）京0105民诉前调8号"]],
    *[(f"person {name} {number}", "/api/v1/identity/verify", {"id_number": number, "name": name}, "VerifyIdentity",
       lambda b: pb.VerifyIdentityRequest(context=ctx(), id_number=b["id_number"], name=b["name"]), False)
      for name, number in [("USA SMITH", "USA110085031501"), ("O'BRIEN", "11010519491231002X"),
                           ("SMITH-JONES", "11010519491231002X"), ("MÜLLER", "11010519491231002X"),
                           ("艾力.买买提", "11010519491231002X"), ("张 三", "11010519491231002X")]],
]


@pytest.mark.parametrize("label,path,body,method,request_of,refused", ISSUE_17_CASES, ids=[c[0] for c in ISSUE_17_CASES])
async def test_issue_17_validator_cases_over_both_doors(node, label, path, body, method, request_of, refused):
    status, ctype, answer = await post(node, {"context": json_ctx(), **body}, path)
    assert status == (400 if refused else 200), answer
    try:
        await getattr(node.stub, method)(request_of(body))
        code = grpc.StatusCode.OK
    except grpc.aio.AioRpcError as err:
        code = err.code()
    assert code == (grpc.StatusCode.INVALID_ARGUMENT if refused else grpc.StatusCode.OK)
