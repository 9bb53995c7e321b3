"""National data-sharing platform relay (INTERFACES.md §4) against the mock platform over real sockets:
the signature, the secret refresh with Java's AES key derivation, caching until secretEndTime, both
sign variants, and broken replies as typed errors."""
from __future__ import annotations

import base64
import json

import pytest
from aiohttp import web

from connectors.base.errors import BadUpstream, PermissionDenied, Rejected, Unavailable, UpstreamError
from connectors.relay import NationalConfig, NationalRelay, Service, ServiceCredential
from connectors.relay.national import hmac_sign, java_aes_key, open_secret
from mocks.relays.national import SOAP, seal_secret
from tests.relay_support import call, national, relay_keys  # noqa: F401

# Made-up values. The HMAC was computed with `openssl dgst -sha256 -hmac`; the AES key and secret with
# OpenJDK: KeyGenerator("AES").init(128, SecureRandom("SHA1PRNG") seeded with the appkey), Cipher("AES").
APPKEY = "fedcba9876543210fedcba9876543210"
SID, RID, RTIME = "s_12340000MB0000000X_0001", "12340000MB0000000X@00112233445566778899aabbccddeeff", "1704421815123"
SIGN = "5ZPgJZ5Uc1Fr5UV/R3YWx3NwYA1pFj1SAw0M77bbDFo="
JAVA_APPKEY = "0123456789abcdef0123456789abcdef"
JAVA_KEY = "2d703e10a32f30251a2370355793e786"
JAVA_SECRET = "2CtWuYeWgiq6KCn/h4NZDrsfxQ71d2S8B7lAWW4u12E="

ROWS = {"returncount": 1, "recordcount": 1, "rows": [{"org_name": "某某基金会", "usc_code": "53100000500000000X"}]}


def test_signature_is_hmac_sha256_over_sid_rid_rtime():
    assert hmac_sign(APPKEY, SID, RID, RTIME) == SIGN


def test_secret_opens_with_the_java_key_derivation():
    assert java_aes_key(JAVA_APPKEY).hex() == JAVA_KEY
    assert open_secret(JAVA_APPKEY, JAVA_SECRET) == "made-up-secret-0001"


@pytest.mark.parametrize("text", [JAVA_SECRET[:-4] + "AAA=", "!!!!", base64.b64encode(b"short").decode(), ""])
def test_a_secret_that_does_not_open_is_bad_upstream(text):
    with pytest.raises(BadUpstream):
        open_secret(JAVA_APPKEY, text)
    with pytest.raises(BadUpstream):
        open_secret(APPKEY, JAVA_SECRET)  # wrong appkey: padding does not check out


async def test_request_is_the_documented_shape(national):
    mock, relay = await national()
    credential = relay.config.credentials[Service.SOCIAL_ORG_QUERY]
    mock.handlers[credential.sid] = lambda payload: ROWS
    reply = await relay.send(Service.SOCIAL_ORG_QUERY, {"tyshxydm": "53100000500000000X", "search_type": "10"}, call())
    assert reply.payload == ROWS

    (seen,) = mock.seen
    headers = seen["headers"]
    assert (headers["gjgxjhpt_rid"], headers["gjgxjhpt_sid"]) == (credential.rid, credential.sid)
    assert headers["gjgxjhpt_rtime"].isdigit() and len(headers["gjgxjhpt_rtime"]) == 13  # epoch milliseconds
    secret = mock.live_secrets[credential.sid]
    assert headers["gjgxjhpt_sign"] == hmac_sign(secret, credential.sid, credential.rid, headers["gjgxjhpt_rtime"])
    form = seen["form"]
    assert list(form) == ["access_key", "format", "request_id", "sign", "timestamp", "version", "biz_content"]
    assert (form["access_key"], form["format"], form["version"], form["timestamp"]) == (credential.appkey, "json", "1.0", "")
    assert json.loads(form["biz_content"]) == {"tyshxydm": "53100000500000000X", "search_type": "10"}
    assert mock.secret_requests == 1


async def test_cremation_sends_plain_form_fields_and_repeats_the_auth_fields(national):
    mock, relay = await national()
    sid = relay.config.credentials[Service.CREMATION_QUERY].sid
    mock.handlers[sid] = lambda payload: {"rows": [{"ID_CARD": payload["id_card"], "DEATH_TIME": "2023-03-01"}]}
    reply = await relay.send(Service.CREMATION_QUERY, {"id_card": "110101195001011234", "name": "王五"}, call())
    form = mock.seen[0]["form"]
    assert "biz_content" not in form and form["id_card"] == "110101195001011234" and form["name"] == "王五"
    assert form["gjgxjhpt_sid"] == sid and form["gjgxjhpt_sign"] == mock.seen[0]["headers"]["gjgxjhpt_sign"]
    assert reply.payload["rows"][0]["DEATH_TIME"] == "2023-03-01"


MDEML_REQUEST = ('<MDEML templateVersion="1.0"><requestinfo><requestDate>2024-01-05 10:30:15</requestDate>'
                 '<requestOrgCode>000000000</requestOrgCode><requestOrgName>某不动产登记中心</requestOrgName>'
                 '</requestinfo><body><data><GMSFZH>110101195001011234</GMSFZH><XM>王五</XM></data></body></MDEML>')
MDEML_REPLY = ('<?xml version="1.0" encoding="UTF-8"?>\n<MDEML templateVersion="1.0"><resultinfo >'
               '<success>0</success><message>成功</message></resultinfo ><body>'
               '<data><GMSFHM>110101195001011234</GMSFHM><XM>王五</XM><SWRQ>2023-03-01</SWRQ></data>'
               '<data><GMSFHM>110101195001011234</GMSFHM><XM>王五</XM><SWRQ>2023-03-01</SWRQ></data></body></MDEML>')


async def test_death_certificate_is_a_soap_call_carrying_mdeml(national):
    mock, relay = await national(prefix="gjzwfwpt")
    credential = relay.config.credentials[Service.DEATH_CERTIFICATE]
    mock.handlers[credential.sid] = lambda xml: MDEML_REPLY
    reply = await relay.send(Service.DEATH_CERTIFICATE, MDEML_REQUEST, call())
    assert reply.payload == MDEML_REPLY  # escaped inside the SOAP reply, verbatim out: `resultinfo ` and all

    (seen,) = mock.seen
    assert seen["operation"] == "getSwyxzmInfo" and seen["payload"] == MDEML_REQUEST
    assert (seen["arguments"]["username"], seen["arguments"]["password"]) == (credential.username, credential.password)
    header = seen["soap_header"]
    assert (header["gjzwfwpt_sid"], header["gjzwfwpt_rid"]) == (credential.sid, credential.rid)
    assert header["gjzwfwpt_sign"] == hmac_sign(mock.live_secrets[credential.sid], credential.sid, credential.rid,
                                                header["gjzwfwpt_rtime"])
    assert seen["headers"]["Content-Type"].startswith("text/xml")


async def test_a_soap_fault_is_a_typed_error(national):
    """SOAP 1.1 sends faults with HTTP 500: Unavailable, like any 5xx (a fault with 200 is BadUpstream, below)."""
    mock, relay = await national()
    credential = relay.config.credentials[Service.DEATH_CERTIFICATE]
    mock.handlers[credential.sid] = lambda xml: MDEML_REPLY
    mock.credentials[credential.sid]["password"] = "changed"  # the login no longer matches: SOAP fault
    with pytest.raises(Unavailable):
        await relay.send(Service.DEATH_CERTIFICATE, MDEML_REQUEST, call())


@pytest.mark.parametrize("mixed_case", [False, True])  # Code, BIZ_DATA
async def test_secret_is_cached_until_its_end_time(national, mixed_case):
    mock, relay = await national()
    mock.mixed_case = mixed_case
    sid = relay.config.credentials[Service.MARRIAGE_QUERY].sid
    mock.handlers[sid] = lambda payload: {"result": [], "code": "0", "status": "success"}
    for _ in range(3):
        await relay.send(Service.MARRIAGE_QUERY, {"name_man": "张三", "cert_num_man": "320106199001011234"}, call())
    assert mock.secret_requests == 1 and len(mock.seen) == 3


async def test_a_secret_near_its_end_time_is_renewed_before_use(national):
    mock, relay = await national(secret_lifetime_ms=1_000)  # ends inside the renewal margin
    sid = relay.config.credentials[Service.MARRIAGE_QUERY].sid
    mock.handlers[sid] = lambda payload: {"result": []}
    await relay.send(Service.MARRIAGE_QUERY, {}, call())
    await relay.send(Service.MARRIAGE_QUERY, {}, call())
    assert mock.secret_requests == 2 and len(mock.seen) == 2  # renewed ahead: never refused


async def test_an_expired_secret_is_renewed_once_and_the_call_resent(national):
    mock, relay = await national()
    sid = relay.config.credentials[Service.MARRIAGE_QUERY].sid
    mock.handlers[sid] = lambda payload: {"result": []}
    await relay.send(Service.MARRIAGE_QUERY, {}, call())
    mock.expire_secrets()
    assert (await relay.send(Service.MARRIAGE_QUERY, {}, call())).payload == {"result": []}
    assert mock.secret_requests == 2 and len(mock.seen) == 3  # refused once (401), resent once


@pytest.mark.parametrize("variant", ["hmac", "secret"])
async def test_both_sign_variants(national, variant):
    mock, relay = await national(sign_variant=variant, prefix="gjzwfwpt")
    sid = relay.config.credentials[Service.ENTERPRISE_QUERY].sid
    mock.handlers[sid] = lambda payload: {"result": [{"regstateCn": "存续（在营、开业、在册）"}]}
    reply = await relay.send(Service.ENTERPRISE_QUERY, {"uniscid": "91320100MA0000000X"}, call())
    assert reply.payload["result"][0]["regstateCn"].startswith("存续")
    sign = mock.seen[0]["headers"]["gjzwfwpt_sign"]
    assert (sign == mock.live_secrets[sid]) == (variant == "secret")


async def test_the_wrong_sign_variant_is_refused_after_one_renewal(national):
    mock, relay = await national(sign_variant="hmac", mock_variant="secret")
    mock.handlers[relay.config.credentials[Service.MARRIAGE_QUERY].sid] = lambda payload: {}
    with pytest.raises(Rejected) as raised:
        await relay.send(Service.MARRIAGE_QUERY, {}, call())
    assert not raised.value.transient
    assert mock.secret_requests == 2 and len(mock.seen) == 2


async def test_a_requester_not_authorised_is_a_permission_fault(national, relay_keys):
    mock, _ = await national()
    stranger = NationalRelay(NationalConfig(base_url=mock.url, credentials={
        Service.MARRIAGE_QUERY: ServiceCredential(rid="x@0", sid="s_unknown_0001", appkey=APPKEY)}))
    try:
        with pytest.raises(PermissionDenied):
            await stranger.send(Service.MARRIAGE_QUERY, {}, call())
    finally:
        await stranger.close()


async def test_a_service_without_credential_fails_at_start(national):
    _, relay = await national()
    with pytest.raises(ValueError):
        await relay.send(Service.IDENTITY_CHECK, {}, call())
    with pytest.raises(ValueError):
        NationalRelay(NationalConfig(base_url="http://127.0.0.1:1", sign_variant="plain"))  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["-1", "E-106"])
async def test_business_not_authorised_codes(national, code):
    mock, relay = await national()
    mock.handlers[relay.config.credentials[Service.MARRIAGE_QUERY].sid] = lambda payload: {}
    mock.next_statuses.append(code)
    with pytest.raises(PermissionDenied):
        await relay.send(Service.MARRIAGE_QUERY, {}, call())


MALFORMED_BUSINESS = {
    "html with 200": "<html>维护中</html>",
    "unknown code": json.dumps({"code": "0", "msg": "?", "biz_data": {}}),
    "no code": json.dumps({"msg": "成功", "biz_data": {}}),
    "no biz_data": json.dumps({"code": "1", "msg": "成功"}),
    "biz_data broken json text": json.dumps({"code": "1", "biz_data": "{rows"}),
    "biz_data a number": json.dumps({"code": "1", "biz_data": 3}),
}
MALFORMED_SOAP = {
    "html with 200": "<html><body>维护中</body></html>",
    "not xml": "{}",
    "entity bomb": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    "empty body": f'<e:Envelope xmlns:e="{SOAP}"><e:Body/></e:Envelope>',
    "no return value": f'<e:Envelope xmlns:e="{SOAP}"><e:Body><r:getSwyxzmInfoResponse xmlns:r="x"/></e:Body></e:Envelope>',
    "fault with 200": f'<e:Envelope xmlns:e="{SOAP}"><e:Body><e:Fault><faultstring>x</faultstring></e:Fault>'
                      f'</e:Body></e:Envelope>',
    "empty return": f'<e:Envelope xmlns:e="{SOAP}"><e:Body><getSwyxzmInfoResponse><r/></getSwyxzmInfoResponse>'
                    f'</e:Body></e:Envelope>',
}
MALFORMED_SECRET = {
    "html with 200": "<html>维护中</html>",
    "no data": json.dumps({"code": "0"}),
    "secret not text": json.dumps({"code": "0", "data": {"secret": 12}}),
    "secret does not open": json.dumps({"code": "0", "data": {"secret": JAVA_SECRET}}),
    "unknown code": json.dumps({"code": "E-999", "data": {}}),
}


async def platform(fake_upstream, secret_reply: str | None, business_reply: str) -> str:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        if request.path.endswith("refreshappsecret"):
            return web.Response(text=secret_reply, content_type="application/json")
        return web.Response(text=business_reply, content_type="application/json")
    return await fake_upstream(handler)


@pytest.mark.parametrize("case", [("secret", name) for name in MALFORMED_SECRET]
                         + [("business", name) for name in MALFORMED_BUSINESS]
                         + [("soap", name) for name in MALFORMED_SOAP])
async def test_malformed_replies_are_typed_errors(fake_upstream, case):
    where, name = case
    service = Service.DEATH_CERTIFICATE if where == "soap" else Service.MARRIAGE_QUERY
    credential = ServiceCredential(rid=RID, sid=SID, appkey=APPKEY)
    good_secret = json.dumps({"code": "0", "data": {"secret": seal_secret(APPKEY, "s3cret"),
                                                    "secretEndTime": 99999999999999}})
    business = {"business": MALFORMED_BUSINESS, "soap": MALFORMED_SOAP}.get(where, {}).get(name, "{}")
    url = await platform(fake_upstream, MALFORMED_SECRET[name] if where == "secret" else good_secret, business)
    relay = NationalRelay(NationalConfig(base_url=url, credentials={service: credential}))
    try:
        with pytest.raises(BadUpstream):
            await relay.send(service, MDEML_REQUEST if where == "soap" else {}, call())
    finally:
        await relay.close()


async def test_a_ten_megabyte_business_reply_is_refused(fake_upstream):
    good_secret = json.dumps({"code": "0", "data": {"secret": seal_secret(APPKEY, "s"), "secretEndTime": 99999999999999}})
    url = await platform(fake_upstream, good_secret, "x" * (10 * 1024 * 1024))
    relay = NationalRelay(NationalConfig(base_url=url, credentials={
        Service.MARRIAGE_QUERY: ServiceCredential(rid=RID, sid=SID, appkey=APPKEY)}))
    try:
        with pytest.raises(UpstreamError, match="limit"):
            await relay.send(Service.MARRIAGE_QUERY, {}, call())
    finally:
        await relay.close()
