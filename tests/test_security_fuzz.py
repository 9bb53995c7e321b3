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


# ------------------------------------------ a counted hostile run per door (issue 18)

HOSTILE_PER_DOOR = 2000
HOSTILE_STRINGS = [
    "", " ", "\x00", "2026-\ud800", "\udfff", "\ufffe", "\uffff", "A" * 5000, "1" * 18, "11010519491231002x",
    "１１０１０５１９４９１２３１００２Ｘ", "<script>alert(1)</script>", "' OR 1=1 --", "${jndi:ldap://x}",
    "../../etc/passwd", "\u202e\u0644", "张" * 70, "%00%0d%0a", "\r\nX-Injected: 1", "null", "\U0001F600" * 10,
]


def hostile_json_bodies(rng, person) -> list[bytes]:
    """Mutations of a valid body: hostile strings in any field, wrong types, unknown fields,
    missing context, broken JSON, non-objects, oversize bodies."""
    import json as _json

    def value():
        return rng.choice([rng.choice(HOSTILE_STRINGS), rng.randint(-2**63, 2**63), None, True, 1.5e308,
                           [], {}, [rng.choice(HOSTILE_STRINGS)], {"a": {"b": [1, {"c": None}]}}])

    bodies = []
    for n in range(HOSTILE_PER_DOOR):
        body = {"context": json_ctx(), "id_number": person.id_number, "name": person.name}
        kind = n % 8
        if kind < 4:
            section = body["context"] if kind % 2 else body
            section[rng.choice(sorted(section) + ["fresh", "extra"])] = value()
            raw = _json.dumps(body, ensure_ascii=True).encode()
        elif kind == 4:
            body.pop("context")
            raw = _json.dumps(body).encode()
        elif kind == 5:
            raw = rng.randbytes(rng.randint(0, 200))
        elif kind == 6:
            raw = _json.dumps(rng.choice([[], "x", 3, None, [body]])).encode()
        else:
            raw = _json.dumps({**body, "name": "张" * rng.randint(20_000, 40_000)}).encode()  # past 64 KiB
        bodies.append(raw)
    return bodies


async def test_json_door_takes_2000_hostile_inputs_without_a_server_error(node, people):
    import asyncio
    import random

    rng = random.Random(20261202)
    bodies = hostile_json_bodies(rng, people[0])
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as http:
        semaphore = asyncio.Semaphore(16)

        async def send(raw: bytes) -> None:
            async with semaphore, http.post(node.http_url + "/api/v1/identity/verify", data=raw,
                                            headers={"Content-Type": "application/json"}) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1

        await asyncio.gather(*(send(raw) for raw in bodies))
    assert sum(statuses.values()) == HOSTILE_PER_DOOR
    assert not [s for s in statuses if s >= 500], statuses
    assert len(await node.node.audit_store.records()) == HOSTILE_PER_DOOR  # every one on record
    assert await node.node.audit_store.verify_chain() is None


async def test_grpc_door_takes_2000_hostile_inputs_without_a_server_error(node, people):
    import asyncio
    import random

    import grpc

    from querynode.v1 import querynode_pb2 as pb
    from tests.conftest import ctx

    rng = random.Random(20261203)
    person = people[0]
    valid = pb.VerifyIdentityRequest(context=ctx(), id_number=person.id_number, name=person.name).SerializeToString()
    messages = []
    for n in range(HOSTILE_PER_DOOR):
        kind = n % 5
        if kind == 0:  # random bytes
            messages.append(rng.randbytes(rng.randint(1, 300)))
        elif kind == 1:  # a valid message with bytes flipped
            raw = bytearray(valid)
            for _ in range(rng.randint(1, 5)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            messages.append(bytes(raw))
        elif kind == 2:  # hostile strings where the fields go (encodable ones)
            text = rng.choice([s for s in HOSTILE_STRINGS if not any(0xD800 <= ord(c) <= 0xDFFF for c in s)])
            messages.append(pb.VerifyIdentityRequest(
                context=ctx(case_number=text, operator_id=rng.choice(HOSTILE_STRINGS[:3] + ["clerk"])),
                id_number=text, name=text).SerializeToString())
        elif kind == 3:  # no context
            messages.append(pb.VerifyIdentityRequest(id_number=person.id_number, name=person.name).SerializeToString())
        else:  # invalid UTF-8 inside a string field (tag 3: name)
            messages.append(valid + b"\x1a\x02\xff\xfe")
    codes: dict[str, int] = {}
    async with grpc.aio.insecure_channel(node.grpc_target) as channel:
        call = channel.unary_unary("/querynode.v1.QueryNode/VerifyIdentity",
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)
        semaphore = asyncio.Semaphore(16)

        async def send(raw: bytes) -> None:
            async with semaphore:
                try:
                    await call(raw, timeout=10)
                    code = "OK"
                except grpc.aio.AioRpcError as err:
                    code = err.code().name
                codes[code] = codes.get(code, 0) + 1

        await asyncio.gather(*(send(raw) for raw in messages))
    assert sum(codes.values()) == HOSTILE_PER_DOOR
    assert not {"INTERNAL", "UNKNOWN", "DATA_LOSS"} & set(codes), codes
    assert len(await node.node.audit_store.records()) == HOSTILE_PER_DOOR
    assert await node.node.audit_store.verify_chain() is None
