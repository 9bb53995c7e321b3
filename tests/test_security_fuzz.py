"""Hypothesis fuzzing of the validators and of the JSON API over a real socket: bad input
ends in a typed error, never a server error (5xx) and never a verdict."""
from __future__ import annotations

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from querynode.core.validate import validate_context, validate_query
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.core.operations import registry
from tests.conftest import json_ctx

text = st.text(max_size=40) | st.sampled_from(["", " ", "\x00", "1" * 18, "11010519491231002X", "（2023）京0105民初1号"])
json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                          max_leaves=8)
OPERATIONS = list(registry().operations.values())
QUERY_FIELDS = sorted({f for op in OPERATIONS for f in op.query_type.__dataclass_fields__})


@settings(max_examples=300, deadline=None)
@given(id_number=text, name=text, case=text, operator=text, purpose=text)
def test_validators_raise_only_invalid_argument(id_number, name, case, operator, purpose):
    for query in (m.IdentityQuery(id_number, name), m.MarriageQuery(id_number, name, spouse_id_number=name),
                  m.DeathQuery(id_number, name), m.OrganizationQuery(credit_code=id_number),
                  m.LicenseQuery(license_code=id_number), m.JudgmentQuery(case_number=id_number),
                  m.PlaceNameQuery(division_code=id_number)):
        try:
            validate_query(query)
        except e.InvalidArgument as exc:
            if len(id_number) >= 10:  # errors name fields, never echo values
                assert id_number not in exc.message
    ctx = m.RequestContext(case_number=case, operator_id=operator, purpose=purpose, caller="c", request_id="r")
    try:
        validate_context(ctx)
    except e.InvalidArgument:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(OPERATIONS),
       body=st.dictionaries(st.sampled_from(QUERY_FIELDS + ["context", "extra"]) | text, json_value, max_size=5),
       context=st.none() | st.dictionaries(st.sampled_from(sorted(json_ctx()) + ["fresh", "x"]), json_value, max_size=4))
async def test_json_api_never_5xx_and_no_verdict_for_bad_input(node, op, body, context):
    if context is not None:
        body = {**body, "context": context}
    async with aiohttp.ClientSession() as http:
        async with http.post(node.http_url + op.http_path, json=body) as r:
            assert r.status < 500, await r.text()
            payload = await r.json(content_type=None)
            if r.status != 200:
                assert r.content_type == "application/problem+json"
                assert "verdict" not in payload
                return
    # Accepted: only a body that passes validation as a whole may get a verdict.
    ctx = m.RequestContext(caller="c", request_id="r", **{k: context[k] for k in ("case_number", "operator_id", "purpose")})
    validate_context(ctx)
    query = op.query_type(**{k: v for k, v in body.items() if k != "context" and v is not None})
    validate_query(query)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
async def test_json_api_survives_arbitrary_bytes(node, raw):
    async with aiohttp.ClientSession() as http:
        async with http.post(node.http_url + "/api/v1/identity/verify", data=raw,
                             headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400
            assert "verdict" not in await r.json(content_type=None)
