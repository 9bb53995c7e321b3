"""The JSON API for identity: same verdicts as gRPC, errors as problem+json."""
from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import json_ctx


async def post(node, body, *, raw: bytes | None = None, content_type="application/json"):
    async with aiohttp.ClientSession() as session:
        kwargs = {"data": raw, "headers": {"Content-Type": content_type}} if raw is not None else {"json": body}
        async with session.post(f"{node.http_url}/api/v1/identity/verify", **kwargs) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.json(content_type=None)


@pytest.mark.parametrize("group,verdict,items", [
    ("match", "MATCH", []),
    ("name_mismatch", "MISMATCH", ["NAME"]),
    ("not_found", "NOT_FOUND", None),
])
async def test_verdicts(node, samples, group, verdict, items):
    person = samples["identity"][group][0]
    status, ctype, body = await post(node, {"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]})
    assert status == 200 and ctype.startswith("application/json")
    assert body["verdict"] == verdict
    if items is not None:
        assert body["result"]["mismatched_items"] == items
    assert body["provenance"]["department"] == "identity"
    assert body["provenance"]["audit_id"]


@pytest.mark.parametrize("label,change,field", [
    ("bad check digit", {"id_number": "110105199003071230"}, "id_number"),
    ("31 February", {"id_number": "11010519900231123X"}, "id_number"),
    ("empty name", {"name": ""}, "name"),
    ("long name", {"name": "张" * 200}, "name"),
    ("number not a string", {"id_number": 110105199003071234}, "id_number"),
    ("unknown field", {"photo": "x"}, "photo"),
])
async def test_bad_input_is_problem_json(node, identity_mock, samples, label, change, field):
    person = samples["identity"]["match"][0]
    body = {"context": json_ctx(), "id_number": person["id_number"], "name": person["name"], **change}
    status, ctype, problem = await post(node, body)
    assert status == 400
    assert ctype.startswith("application/problem+json")
    assert [p["name"] for p in problem["invalid_params"]] == [field]
    assert problem["status"] == 400 and problem["title"]
    assert identity_mock.stats["requests"] == 0


async def test_missing_case_number_is_rejected(node, samples):
    person = samples["identity"]["match"][0]
    status, _, problem = await post(node, {"context": json_ctx(case_number=""), "id_number": person["id_number"],
                                           "name": person["name"]})
    assert status == 400
    assert problem["invalid_params"][0]["name"] == "context.case_number"


@pytest.mark.parametrize("raw,ctype", [
    (b"{not json", "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b"[1,2,3]", "application/json"),
    (b"id_number=1", "application/x-www-form-urlencoded"),
])
async def test_garbage_on_the_wire_is_a_clear_400(node, raw, ctype):
    status, rtype, problem = await post(node, None, raw=raw, content_type=ctype)
    assert status == 400 and rtype.startswith("application/problem+json")
    assert problem["invalid_params"][0]["name"] == "body"


async def test_oversized_body_is_rejected(node):
    status, rtype, problem = await post(node, None, raw=b'{"name":"' + b"a" * 200_000 + b'"}')
    assert status == 413 and rtype.startswith("application/problem+json")


async def test_healthz_and_openapi(node):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{node.http_url}/healthz") as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "alive"
        async with session.get(f"{node.http_url}/api/v1/openapi.json") as resp:
            doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    op = doc["paths"]["/api/v1/identity/verify"]["post"]
    assert op["operationId"] == "VerifyIdentity"
    schema = doc["components"]["schemas"]["IdentityQuery"]
    assert set(schema["required"]) == {"context", "id_number", "name"}
