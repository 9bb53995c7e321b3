"""The mock 公安部 GA02 service refuses what a real one refuses: a bad, stale or replayed signed
envelope (the shared ministry envelope, mocks/ministry.py), and a business payload that is not GA02."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

import aiohttp

from tests.conftest import APP_ID

PATH = "/mps/api/gasfhc"


def _payload(number: str, name: str, sequence: str = "202601051030150001", query=None) -> dict:
    return {"bus_sre_idcard": "", "bus_sre_deptcode": "", "bus_sre_deptaddr": "", "bus_sre_appname": "不动产登记系统",
            "bus_sre_businesstypecode": "SC000023", "bus_sre_businesstypename": "首次登记",
            "MessageSequence": sequence,
            "RequestParam": {"Conditions": [{"CheckCondition": {"xm": name},
                                             "QueryCondition": query or f"gmsfhm='{number}'"}]}}


def _body(data: dict) -> bytes:
    return json.dumps({"head": {"requestType": "GA02", "cxqqdh": "20260105110105000001", "businessNumber": "c-1"},
                       "data": data}, ensure_ascii=False).encode()


def _sign(secret: str, app_id: str, body: bytes, *, now_ms: int | None = None, nonce: str | None = None) -> dict:
    # INTERFACES-independent restatement of the envelope: hex HMAC-SHA256(secret, app \n ts \n nonce \n sha256(body))
    ts, nonce = str(now_ms or int(time.time() * 1000)), nonce or secrets.token_hex(16)
    text = f"{app_id}\n{ts}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
    return {"X-App-Id": app_id, "X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature": hmac.new(secret.encode(), text.encode(), "sha256").hexdigest()}


async def _post(mock, body: bytes, headers: dict) -> tuple[int, dict | str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{mock.url}{PATH}", data=body,
                                headers={**headers, "Content-Type": "application/json"}) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text


async def test_good_envelope_is_answered_per_person(identity_mock, dept_secret, samples):
    person, other = samples["identity"]["match"][0], samples["identity"]["not_found"][0]
    data = _payload(person["id_number"], person["name"])
    data["RequestParam"]["Conditions"].append({"CheckCondition": {"xm": other["name"]},
                                               "QueryCondition": {"gmsfhm": other["id_number"]}})
    body = _body(data)
    status, reply = await _post(identity_mock, body, _sign(dept_secret, APP_ID, body))
    assert status == 200 and reply["head"]["status"] == "0200"
    [resource] = reply["data"]["ResourceInfos"]
    assert [(i["CheckCode"], i["CheckSourceInfos"]["xm"]) for i in resource["ReturnInfos"]] == [
        ("000", person["name"]), ("999", other["name"])]


async def test_wrong_signature_tampered_body_and_unknown_app_are_refused(identity_mock, dept_secret, samples):
    person = samples["identity"]["match"][0]
    body = _body(_payload(person["id_number"], person["name"]))
    tampered = _body(_payload(person["id_number"], "张三"))
    for payload, headers in ((body, _sign("not-the-secret", APP_ID, body)), (tampered, _sign(dept_secret, APP_ID, body)),
                             (body, _sign(dept_secret, "someone-else", body))):
        status, reply = await _post(identity_mock, payload, headers)
        assert status == 401 and reply["head"]["status"] == "0301"
    assert identity_mock.requests == []


async def test_stale_timestamp_and_replayed_nonce_are_refused(identity_mock, dept_secret, samples):
    person = samples["identity"]["match"][0]
    body = _body(_payload(person["id_number"], person["name"]))
    status, _ = await _post(identity_mock, body, _sign(dept_secret, APP_ID, body, now_ms=int((time.time() - 360) * 1000)))
    assert status == 401
    status, _ = await _post(identity_mock, body, _sign(dept_secret, APP_ID, body, now_ms=int((time.time() - 240) * 1000)))
    assert status == 200
    headers = _sign(dept_secret, APP_ID, body)
    first, _ = await _post(identity_mock, body, headers)
    second, _ = await _post(identity_mock, body, headers)
    assert (first, second) == (200, 401)


async def test_a_payload_that_is_not_ga02_is_refused(identity_mock, dept_secret, samples):
    person = samples["identity"]["match"][0]
    for data in (_payload(person["id_number"], person["name"], sequence="2026"),
                 _payload(person["id_number"], person["name"], query="ORG_CODE='010000'"),
                 {**_payload(person["id_number"], person["name"]), "RequestParam": {"Conditions": []}}):
        body = _body(data)
        status, _ = await _post(identity_mock, body, _sign(dept_secret, APP_ID, body))
        assert status == 400
