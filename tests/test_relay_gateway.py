"""部级接口 gateway relay (INTERFACES.md §1, §13) against the mock gateway over real sockets:
the request it sends, the replies it reads, and every broken reply as a typed error."""
from __future__ import annotations

import asyncio
import base64
import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.base.errors import BadUpstream, PermissionDenied, RateLimited, Timeout, Unavailable, UpstreamError
from connectors.relay import GatewayConfig, GatewayRelay, Service
from connectors.relay.gateway import encrypt
from mocks.relays.gateway import MockGateway
from tests.relay_support import CASE_NUMBER, REGION, answering, call, gateway, relay_keys  # noqa: F401

# Made-up test vector produced by OpenJDK: Cipher.getInstance("RSA") in ENCRYPT_MODE with the private
# key of this public key over '{"count":0,"rows":[]}', URL-safe Base64 without padding.
JAVA_PUBLIC_KEY = (
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDRFVdvh5pfe1Fzkb3B6xqKJcoRFgE5KSTiaZC3v1SKknqFeFGj_0hX4t2g3yko0PvE2LDz"
    "vt4s7QFDo1WWWvHjSoDryr350WxY0x3fLqYG4-FomDd2rkRFTczAbXi3IJTQwW_rMhvifRuefw1PuJXNDon4ii9ntoDCe3WrmSiOIwIDAQAB")
JAVA_DATA = (
    "l5MzwstFJGdj19-mgCIY8TMUHbOU4umzEMvOdXaH7tYxBi7lEAGFuBewun9O5cUK7UcIGHUWBUevYVo20fdfzTkAcQ2OmrzpVB65Jb7XlI1D"
    "OSUGvL6FsUKaAGy0SLONsrANFOMSWcBGmJHSM8QAwtu9I-qyXUuXwbzmsH8Gdkk")

CODES = {Service.IDENTITY_CHECK: "GA02", Service.MARRIAGE_QUERY: "MZ01", Service.SOCIAL_ORG_QUERY: "MZ02",
         Service.PLACE_NAME_QUERY: "MZ03", Service.FINANCIAL_LICENSE_QUERY: "YB01", Service.ORGAN_QUERY: "ZB01",
         Service.COURT_APPLY: "GF01", Service.COURT_FEEDBACK: "GF99"}

FOUR_PERSONS = {
    "bus_sre_idcard": "110101198001010011", "bus_sre_deptcode": "12340000MB0000000X", "bus_sre_deptaddr": "某市某路1号",
    "bus_sre_appname": "不动产登记系统", "bus_sre_businesstypecode": "SC000023", "bus_sre_businesstypename": "首次登记",
    "MessageSequence": "202401051030150001",
    "RequestParam": {"Conditions": [
        {"CheckCondition": {"xm": name}, "QueryCondition": f"gmsfhm='{number}'"}
        for name, number in [("王五", "110101199001011234"), ("赵六", "110101199202022345"),
                             ("钱七", "110101198503033456"), ("孙八", "110101197704044567")]]},
}
MARRIAGE_REPLY = {"count": 1, "rows": [{
    "op_type": "IA", "op_date": "2018-05-20 00:00:00", "dept_code": "32010601", "dept_name": "某市某区民政局婚姻登记处",
    "cert_no": "J320106-2018-001234", "name_man": "张三", "cert_num_man": "320106199001011234",
    "birth_man": "1990-01-01 00:00:00", "nation_man": "156", "name_woman": "李四",
    "cert_num_woman": "320106199202022345", "birth_woman": "1992-02-02 00:00:00", "nation_woman": "344"}]}
COURT_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<RESOURCE><BRIEF><NUM>1</NUM></BRIEF><data><t_aj>'
             '<c_ah>（2020）苏0102民初123号</c_ah><t_ws><c_nr>PHA+5paH5LmmPC9wPg==</c_nr></t_ws></t_aj></data></RESOURCE>')


async def test_request_is_the_documented_envelope(gateway):
    mock, make = gateway
    mock.handlers["GA02"] = lambda payload: {"ResourceInfos": [{"ReturnInfos": []}]}
    await make(app_key="k-0001").send(Service.IDENTITY_CHECK, FOUR_PERSONS, call())

    (seen,) = mock.seen
    assert seen["keys"] == ["head", "param"]
    head = seen["head"]
    assert list(head) == ["id", "token", "deptName", "userName", "requestType", "cxqqdh", "businessNumber", "xzqh"]
    assert head["id"] == mock.user_id and head["token"] == mock.token  # token is the public key string
    assert head["token"].startswith("MIGfMA0G")  # 1024-bit RSA SubjectPublicKeyInfo
    assert (head["deptName"], head["userName"], head["requestType"]) == ("某市不动产登记局", "clerk-7", "GA02")
    assert (head["businessNumber"], head["xzqh"]) == (CASE_NUMBER, REGION)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    assert re.fullmatch(rf"{today}{REGION}\d{{6}}", head["cxqqdh"])
    # param: URL-safe Base64 without padding of whole 128-byte blocks; opens to the business JSON.
    assert re.fullmatch(r"[A-Za-z0-9_-]+", seen["param"])
    raw = base64.urlsafe_b64decode(seen["param"] + "=" * (-len(seen["param"]) % 4))
    plaintext_size = len(json.dumps(FOUR_PERSONS, ensure_ascii=False, separators=(",", ":")).encode())
    assert len(raw) == 128 * -(-plaintext_size // 117) and len(raw) > 128  # several 117-byte blocks
    assert seen["payload"] == FOUR_PERSONS
    headers = seen["headers"]
    assert headers["Content-Type"] == "application/json; charset=UTF-8"
    assert headers["unitCode"] == "LandResourcesBureau" and headers["timestamp"].isdigit()
    assert headers["appKey"] == "k-0001"


async def test_four_persons_go_in_one_request(gateway):
    mock, make = gateway
    mock.handlers["GA02"] = lambda payload: {"ResourceInfos": [{"ReturnInfos": [
        {"CheckCode": "000", "CheckCodeDesc": "核查一致", "CheckSourceInfos": c["CheckCondition"], "DataInfo": []}
        for c in payload["RequestParam"]["Conditions"]]}]}
    reply = await make().send(Service.IDENTITY_CHECK, FOUR_PERSONS, call())
    assert mock.stats["requests"] == 1
    assert [r["CheckSourceInfos"]["xm"] for r in reply.payload["ResourceInfos"][0]["ReturnInfos"]] == [
        "王五", "赵六", "钱七", "孙八"]


async def test_concurrent_calls_never_share_a_request_number(gateway):
    mock, make = gateway
    mock.handlers["MZ03"] = lambda payload: {"count": 0, "rows": []}
    first, second = make(), make()  # two relays on one serial file, as two workers of one node
    await asyncio.gather(*(relay.send(Service.PLACE_NAME_QUERY, {"place_code": REGION}, call())
                           for relay in [first, second] * 20))
    numbers = [seen["head"]["cxqqdh"] for seen in mock.seen]
    assert len(numbers) == 40 and len(set(numbers)) == 40


@pytest.mark.parametrize("service", list(CODES))
async def test_each_service_travels_under_its_request_type(gateway, service):
    mock, make = gateway
    mock.handlers[CODES[service]] = lambda payload: {"echo": payload}
    reply = await make().send(service, {"name": "某单位"}, call())
    assert mock.seen[-1]["head"]["requestType"] == CODES[service]
    if service is Service.COURT_APPLY:  # head only: the number to poll GF99 with
        assert reply.payload is None and reply.request_number == mock.seen[-1]["head"]["cxqqdh"]
    else:
        assert reply.payload == {"echo": {"name": "某单位"}}


async def test_the_court_apply_reaches_the_court_though_its_reply_is_the_head_alone(gateway):
    mock, make = gateway
    applied = []
    mock.handlers["GF01"] = applied.append  # the court registers the apply; GF99 asks for its answer
    reply = await make().send(Service.COURT_APPLY, {"xmlContent": "<datas/>"}, call())
    assert applied == [{"xmlContent": "<datas/>"}] and reply.payload is None


async def test_a_service_the_gateway_does_not_carry_fails_at_start(gateway):
    _, make = gateway
    with pytest.raises(ValueError):
        await make().send(Service.DEATH_CERTIFICATE, {}, call())


async def test_reads_a_java_sealed_reply_in_the_url_safe_alphabet(fake_upstream, tmp_path):
    head = {"msg": "正常", "requestType": "MZ01", "cxqqdh": "20240105340100000007",
            "businessNumber": CASE_NUMBER, "status": "0200"}
    url = await fake_upstream(answering(json.dumps({"head": head, "data": JAVA_DATA})))
    relay = GatewayRelay(GatewayConfig(base_url=url, public_key=JAVA_PUBLIC_KEY, region=REGION,
                                       serial_file=str(tmp_path / "serial")))
    try:
        reply = await relay.send(Service.MARRIAGE_QUERY, {"cert_num": "320106199001011234", "name": "张三"}, call())
    finally:
        await relay.close()
    assert reply.payload == {"count": 0, "rows": []}
    assert reply.request_number == "20240105340100000007"


async def test_reads_long_replies_mixed_case_heads_and_standard_base64(gateway):
    mock, make = gateway
    mock.mixed_case = True  # Status, RequestType, CXQQDH, Data
    mock.handlers["MZ01"] = lambda payload: MARRIAGE_REPLY  # > 117 bytes: several sealed blocks
    reply = await make().send(Service.MARRIAGE_QUERY, {"cert_num": "320106199001011234", "name": "张三"}, call())
    assert reply.payload == MARRIAGE_REPLY
    assert reply.request_number == mock.seen[-1]["head"]["cxqqdh"]


@pytest.mark.parametrize("escaped", [False, True])
async def test_court_feedback_xml_arrives_as_text_escaped_or_not(gateway, escaped):
    mock, make = gateway
    mock.escape_text = escaped  # "\"<?xml version=\\\"1.0\\\"...<\\/c_ah>...\""
    mock.handlers["GF99"] = lambda payload: COURT_XML
    reply = await make().send(Service.COURT_FEEDBACK, {"cxqqdh": "20240105340100000003"}, call())
    assert reply.payload == COURT_XML


@pytest.mark.parametrize(("status", "error"), [
    ("0401", RateLimited), ("0402", RateLimited), ("0403", Timeout), ("0404", Unavailable), ("9900", Unavailable),
])
async def test_service_faults_are_retryable(gateway, status, error):
    mock, make = gateway
    mock.handlers["MZ03"] = lambda payload: {"count": 0, "rows": []}
    mock.next_statuses.append(status)
    relay = make()
    with pytest.raises(error) as raised:
        await relay.send(Service.PLACE_NAME_QUERY, {"place_code": REGION, "standard_name": "青石河"}, call())
    assert raised.value.transient
    # within the deadline, the next try goes through (the hub's retry does this)
    assert (await relay.send(Service.PLACE_NAME_QUERY, {"place_code": REGION}, call())).payload["count"] == 0


@pytest.mark.parametrize("status", ["0301", "0302", "0303"])
async def test_permission_faults_are_not_retried_and_are_logged(gateway, status, caplog):
    mock, make = gateway
    mock.handlers["YB01"] = lambda payload: {}
    mock.next_statuses.append(status)
    with pytest.raises(PermissionDenied) as raised:
        await make().send(Service.FINANCIAL_LICENSE_QUERY, {"typeId": "01", "certCode": "B0001H111000001"}, call())
    assert not raised.value.transient  # the hub does not retry it; it counts outcome="permission_denied"
    (record,) = [r for r in caplog.records if r.name == "connectors.relay"]
    assert record.levelname == "WARNING" and "financial_license_query" in record.getMessage()
    assert "B0001H111000001" not in caplog.text and CASE_NUMBER not in caplog.text


async def test_a_service_not_opened_for_the_centre_is_a_permission_fault(gateway):
    _, make = gateway  # no handler for ZB01: the mock answers 0302
    with pytest.raises(PermissionDenied):
        await make().send(Service.ORGAN_QUERY, {"name": "某事业单位", "tyshxydm": "12340000MB0000000X"}, call())


async def test_a_wrong_user_id_is_refused(gateway):
    mock, make = gateway
    mock.handlers["MZ01"] = lambda payload: MARRIAGE_REPLY
    with pytest.raises(PermissionDenied):
        await make(user_id="ffffffffffffffffffffffffffffffff").send(Service.MARRIAGE_QUERY, {}, call())


def sealed(mock: MockGateway, text: str) -> str:
    return mock.seal(text.encode())


def other_key_seal(text: str) -> str:
    other = MockGateway(rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), "x")
    return other.seal(text.encode())


def envelope(data=None, status="0200", request_type="MZ01", **extra) -> str:
    reply = {"head": {"status": status, "msg": "正常", "requestType": request_type, "cxqqdh": "20240105340100000001"},
             **extra}
    if data is not None:
        reply["data"] = data
    return json.dumps(reply)


MALFORMED = {
    "html with 200": lambda mock: "<html><body>502 Bad Gateway</body></html>",
    "not an object": lambda mock: "[1, 2]",
    "missing head": lambda mock: json.dumps({"data": sealed(mock, "{}")}),
    "head not an object": lambda mock: json.dumps({"head": "0200", "data": ""}),
    "no status": lambda mock: json.dumps({"head": {"msg": "正常"}, "data": sealed(mock, "{}")}),
    "status is a list": lambda mock: json.dumps({"head": {"status": ["0200"]}, "data": ""}),
    "unknown status": lambda mock: envelope(sealed(mock, "{}"), status="0500"),
    "success word": lambda mock: envelope(sealed(mock, "{}"), status="success"),
    "missing data": lambda mock: envelope(),
    "data not text": lambda mock: envelope({"count": 0}),
    "bad base64": lambda mock: envelope("@@not base64@@"),
    "wrong key": lambda mock: envelope(other_key_seal('{"count":0,"rows":[]}')),
    "truncated blocks": lambda mock: envelope(base64.b64encode(base64.b64decode(sealed(mock, "{}"))[:-10]).decode()),
    "one block cut off": lambda mock: envelope(base64.b64encode(
        base64.b64decode(sealed(mock, json.dumps(MARRIAGE_REPLY)))[128:]).decode()),
    "plaintext not json": lambda mock: envelope(sealed(mock, "{count: 1")),
    "plaintext garbage": lambda mock: envelope(sealed(mock, "hello")),
    "plaintext not utf-8": lambda mock: envelope(mock.seal(b"\xff\xfe{}")),
    "other service": lambda mock: envelope(sealed(mock, "{}"), request_type="GA02"),
    "broken escapes": lambda mock: envelope(sealed(mock, '"<?xml \\x"')),
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_replies_are_typed_errors(gateway, fake_upstream, name):
    mock, make = gateway
    url = await fake_upstream(answering(MALFORMED[name](mock)))
    with pytest.raises(BadUpstream):
        await make(base_url=url).send(Service.MARRIAGE_QUERY, {"cert_num": "x", "name": "y"}, call())


async def test_a_ten_megabyte_reply_is_refused_unread(gateway, fake_upstream):
    mock, make = gateway
    url = await fake_upstream(answering(envelope("A" * (10 * 1024 * 1024))))
    with pytest.raises(BadUpstream, match="limit"):
        await make(base_url=url).send(Service.MARRIAGE_QUERY, {}, call())


@pytest.mark.parametrize("status", [500, 503, 429, 404])
async def test_http_faults_are_typed(gateway, fake_upstream, status):
    _, make = gateway
    url = await fake_upstream(answering("<html>oops</html>", status=status, content_type="text/html"))
    with pytest.raises(UpstreamError):
        await make(base_url=url).send(Service.MARRIAGE_QUERY, {}, call())


async def test_a_gateway_that_is_down_is_unavailable(gateway):
    mock, make = gateway
    relay = make()
    await mock.stop()
    with pytest.raises(Unavailable):
        await relay.send(Service.MARRIAGE_QUERY, {}, call())


def test_a_broken_configured_key_stops_the_node(tmp_path):
    with pytest.raises(ValueError):
        GatewayRelay(GatewayConfig(base_url="http://127.0.0.1:1", public_key="not-a-key", region=REGION))
    with pytest.raises(ValueError):
        GatewayRelay(GatewayConfig(base_url="http://127.0.0.1:1", public_key=JAVA_PUBLIC_KEY, region="3401"))


def test_encrypt_blocks_open_with_the_private_key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    text = ("甲" * 100).encode()  # 300 bytes: three blocks, the last one short
    sealed_param = encrypt(private.public_key(), text)
    raw = base64.urlsafe_b64decode(sealed_param + "=" * (-len(sealed_param) % 4))
    assert len(raw) == 3 * 128 and "=" not in sealed_param
    assert b"".join(private.decrypt(raw[i:i + 128], padding.PKCS1v15()) for i in range(0, 384, 128)) == text
