"""The mock MPS refuses what a real exchange platform refuses."""
from __future__ import annotations

import json
import time

import aiohttp

from connectors.identity.client import sign
from tests.conftest import APP_ID


def _body(number: str, name: str) -> bytes:
    return json.dumps({"head": {"userId": APP_ID}, "body": {"xm": name, "gmsfhm": number}}, ensure_ascii=False).encode()


async def _post(mock, body: bytes, headers: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{mock.url}/gaapi/v1/identity/check", data=body,
                                headers={**headers, "Content-Type": "application/json"}) as resp:
            return resp.status, await resp.json()


async def test_good_envelope_is_answered(identity_mock, dept_secret, samples):
    person = samples["identity"]["match"][0]
    body = _body(person["id_number"], person["name"])
    status, reply = await _post(identity_mock, body, sign(dept_secret, APP_ID, body))
    assert status == 200 and reply["data"]["result"] == "000"


async def test_wrong_signature_is_refused(identity_mock, samples):
    person = samples["identity"]["match"][0]
    body = _body(person["id_number"], person["name"])
    status, reply = await _post(identity_mock, body, sign("not-the-secret", APP_ID, body))
    assert status == 401 and reply["head"]["msg"] == "bad signature"


async def test_tampered_body_is_refused(identity_mock, dept_secret, samples):
    person = samples["identity"]["match"][0]
    headers = sign(dept_secret, APP_ID, _body(person["id_number"], person["name"]))
    status, reply = await _post(identity_mock, _body(person["id_number"], "张三"), headers)
    assert status == 401 and reply["head"]["msg"] == "bad signature"


async def test_stale_timestamp_is_refused(identity_mock, dept_secret, samples):
    person = samples["identity"]["match"][0]
    body = _body(person["id_number"], person["name"])
    six_minutes_ago = int((time.time() - 360) * 1000)
    status, reply = await _post(identity_mock, body, sign(dept_secret, APP_ID, body, now_ms=six_minutes_ago))
    assert status == 401 and reply["head"]["msg"] == "stale or invalid timestamp"
    four_minutes_ago = int((time.time() - 240) * 1000)
    status, _ = await _post(identity_mock, body, sign(dept_secret, APP_ID, body, now_ms=four_minutes_ago))
    assert status == 200


async def test_replayed_nonce_is_refused(identity_mock, dept_secret, samples):
    person = samples["identity"]["match"][0]
    body = _body(person["id_number"], person["name"])
    headers = sign(dept_secret, APP_ID, body)
    first, _ = await _post(identity_mock, body, headers)
    second, reply = await _post(identity_mock, body, headers)
    assert (first, second) == (200, 401)
    assert reply["head"]["msg"] == "nonce replayed"


async def test_unknown_app_is_refused(identity_mock, dept_secret, samples):
    person = samples["identity"]["match"][0]
    body = _body(person["id_number"], person["name"])
    status, reply = await _post(identity_mock, body, sign(dept_secret, "someone-else", body))
    assert status == 401 and reply["head"]["msg"] == "unknown app id"
