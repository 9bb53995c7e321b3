"""Provincial platform relay (INTERFACES.md §3, §13) against the mock platform over real sockets:
the gxData form, the token and its one-time renewal on 2002, per-service success flags and containers."""
from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from connectors.base.errors import BadUpstream, PermissionDenied, RateLimited, Rejected, UpstreamError
from connectors.relay import ProvincialConfig, ProvincialRelay, Service
from connectors.relay.provincial import SUCCESS
from tests.relay_support import CASE_NUMBER, answering, call, provincial, relay_keys  # noqa: F401

CXYWLB = {
    Service.IDENTITY_CHECK: "police_identity_check", Service.POPULATION_BASEINFO: "zw_police_baseinfo",
    Service.MARRIAGE_QUERY: "civil_marriage_query", Service.SOCIAL_ORG_QUERY: "civil_social_query",
    Service.PLACE_NAME_QUERY: "civil_placename_query", Service.CREMATION_QUERY: "zw_civil_crem",
    Service.FINANCIAL_LICENSE_QUERY: "cbirc_financial_query", Service.ORGAN_QUERY: "scopsr_organ_query",
    Service.COURT_APPLY: "supremecourt_decision_apply", Service.COURT_FEEDBACK: "supremecourt_decision_response",
    Service.DEATH_CERTIFICATE: "zw_nhcprc_death-cert", Service.ENTERPRISE_QUERY: "zw_samr_enterprise_query",
    Service.ENTERPRISE_CHECK: "zw_samr_enterprise_check",
}
ORGANS = [{"qlbs": "事业单位", "tyshxydm": "12340000MB0000000X", "onemc": "某市不动产登记中心", "zt": "0",
           "yxqx_s": "2020-01-01", "yxqx_z": "2025-01-01"}]
CREMATION_ROWS = [{"ID_CARD": "110101195001011234", "NAME": "王五", "SEX": "1", "DEATH_TIME": "2023-03-01 08:00:00",
                   "CREMATION_TIME": "2023-03-03"}]


async def test_request_is_the_documented_form(provincial):
    mock, relay = provincial
    mock.handlers["scopsr_organ_query"] = lambda items: ORGANS
    await relay.send(Service.ORGAN_QUERY, {"name": "某市不动产登记中心", "tyshxydm": "12340000MB0000000X"}, call())

    (seen,) = mock.seen
    assert seen["form"] == ["gxData"]  # one form field only
    head = seen["head"]
    assert list(head) == ["xzqdm", "token", "deptName", "userName", "cxqqdh", "businessNumber", "ip"]
    assert head["token"] in mock.tokens
    assert (head["xzqdm"], head["deptName"], head["userName"], head["businessNumber"], head["ip"]) == (
        "320100", "某市不动产登记中心", "clerk-7", CASE_NUMBER, "10.0.0.8")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    assert re.fullmatch(rf"{today}320100\d{{6}}", head["cxqqdh"])
    assert seen["data"] == {"cxywlb": "scopsr_organ_query",
                            "cxywcs": [{"name": "某市不动产登记中心", "tyshxydm": "12340000MB0000000X"}]}
    headers = seen["headers"]
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert headers["unitCode"] == "LandResourcesBureau" and headers["timestamp"].isdigit()
    assert "contentType" in headers


async def test_several_subjects_travel_as_one_cxywcs_array(provincial):
    mock, relay = provincial
    mock.handlers["zw_police_baseinfo"] = lambda items: [{"gmsfzh": i["sfzh"], "swbs": "0"} for i in items]
    items = [{"sfzh": "110101199001011234", "xm": "王五"}, {"sfzh": "110101199202022345", "xm": "赵六"}]
    reply = await relay.send(Service.POPULATION_BASEINFO, items, call())
    assert mock.stats["requests"] == 2  # one token, one query
    assert mock.seen[0]["data"]["cxywcs"] == items
    assert [row["gmsfzh"] for row in reply.payload] == ["110101199001011234", "110101199202022345"]


@pytest.mark.parametrize("service", [s for s in CXYWLB if s is not Service.COURT_APPLY])
@pytest.mark.parametrize("mixed_case", [False, True])
async def test_each_service_success_flag_and_container(provincial, service, mixed_case):
    """0200 / 1 / 200 / 0 / 0000 flags; payload under data, data.cxjg or data.data, any case."""
    mock, relay = provincial
    mock.mixed_case = mixed_case
    answer = {"count": 1, "rows": [{"service": service.value}]}
    mock.handlers[CXYWLB[service]] = lambda items: answer
    reply = await relay.send(service, {"q": "1"}, call())
    assert mock.seen[-1]["data"]["cxywlb"] == CXYWLB[service]
    assert reply.payload == answer


async def test_court_apply_returns_the_number_to_poll_with(provincial):
    mock, relay = provincial
    mock.handlers["supremecourt_decision_apply"] = lambda items: None
    reply = await relay.send(Service.COURT_APPLY, [{"xmlContent": "<?xml version=\"1.0\"?>\n<datas/>"}], call())
    assert reply.payload is None and reply.request_number == mock.seen[-1]["head"]["cxqqdh"]


async def test_court_feedback_xml_escaped_in_extra_quotes(provincial):
    mock, relay = provincial
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n<RESOURCE><BRIEF><NUM>0</NUM></BRIEF><data/></RESOURCE>'
    mock.escape_text = True
    mock.handlers["supremecourt_decision_response"] = lambda items: xml
    reply = await relay.send(Service.COURT_FEEDBACK, [{"cxqqdh": "20240105320100000003"}], call())
    assert reply.payload == xml


async def test_token_is_fetched_once_and_reused(provincial):
    mock, relay = provincial
    mock.handlers["zw_civil_crem"] = lambda items: CREMATION_ROWS
    for _ in range(3):
        assert (await relay.send(Service.CREMATION_QUERY, {"id_card": "110101195001011234", "name": "王五"},
                                 call())).payload == CREMATION_ROWS
    assert mock.token_requests == 1 and len(mock.seen) == 3


async def test_expired_token_is_renewed_once_for_concurrent_calls(provincial):
    mock, relay = provincial
    mock.handlers["zw_civil_crem"] = lambda items: CREMATION_ROWS
    await relay.send(Service.CREMATION_QUERY, {}, call())
    mock.expire_tokens()
    replies = await asyncio.gather(*(relay.send(Service.CREMATION_QUERY, {}, call()) for _ in range(5)))
    assert all(reply.payload == CREMATION_ROWS for reply in replies)
    assert mock.token_requests == 2  # one renewal shared by all five
    assert len(mock.seen) == 1 + 5 + 5  # each of the five was refused once (2002) and resent once


async def test_a_second_2002_after_renewal_is_not_resent_again(fake_upstream, tmp_path):
    counts = {"token": 0, "query": 0}

    async def platform(request: web.Request) -> web.Response:
        await request.post()
        if request.path.endswith("/token"):
            counts["token"] += 1
            return web.json_response({"head": {"code": "0000"}, "data": {"token": f"t{counts['token']}"}})
        counts["query"] += 1
        return web.json_response({"head": {"code": "2002", "msg": "token失效"}, "data": {}})

    url = await fake_upstream(platform)
    relay = ProvincialRelay(ProvincialConfig(base_url=url, region="320100", serial_file=str(tmp_path / "s")))
    try:
        with pytest.raises(Rejected) as raised:
            await relay.send(Service.MARRIAGE_QUERY, {"cert_num": "x", "name": "y"}, call())
    finally:
        await relay.close()
    assert not raised.value.transient
    assert counts == {"token": 2, "query": 2}


async def test_a_refused_login_is_a_permission_fault(provincial):
    mock, relay = provincial
    mock.login = ("querynode", "0" * 32)
    with pytest.raises(PermissionDenied):
        await relay.send(Service.MARRIAGE_QUERY, {}, call())


@pytest.mark.parametrize("status", ["0401", "0402"])
async def test_rate_limits_are_retryable(provincial, status):
    mock, relay = provincial
    mock.handlers["civil_marriage_query"] = lambda items: {"count": 0, "rows": []}
    mock.next_statuses.append(status)
    with pytest.raises(RateLimited):
        await relay.send(Service.MARRIAGE_QUERY, {"cert_num": "x", "name": "y"}, call())
    assert (await relay.send(Service.MARRIAGE_QUERY, {}, call())).payload == {"count": 0, "rows": []}


@pytest.mark.parametrize("status", ["0301", "0302"])
async def test_permission_codes_are_not_retryable(provincial, status):
    mock, relay = provincial
    mock.handlers["civil_marriage_query"] = lambda items: {"count": 0, "rows": []}
    mock.next_statuses.append(status)
    with pytest.raises(PermissionDenied) as raised:
        await relay.send(Service.MARRIAGE_QUERY, {}, call())
    assert not raised.value.transient


async def test_a_service_not_opened_is_a_permission_fault(provincial):
    _, relay = provincial
    with pytest.raises(PermissionDenied):
        await relay.send(Service.ENTERPRISE_CHECK, {"entname": "某公司", "uniscid": "91320100MA0000000X"}, call())


def reply(head: dict, data=None) -> str:
    return json.dumps({"head": head} | ({} if data is None else {"data": data}), ensure_ascii=False)


MALFORMED = {
    "html with 200": "<html><body>维护中</body></html>",
    "missing head": json.dumps({"data": {"count": 0, "rows": []}}),
    "no status": reply({"msg": "查询成功"}, {"count": 0}),
    "unknown code": reply({"status": "0500"}, {"count": 0}),
    "another service's success flag": reply({"status": "0200"}, {"count": 0}),  # marriage succeeds with "1"
    "missing data": reply({"status": "1"}),
    "data is null": '{"head": {"status": "1"}, "data": null}',
    "rows under the wrong key": reply({"status": "1"}, {"count": 1, "rows": []}).replace('"data"', '"result"'),
    "data is a number": reply({"status": "1"}, 7),
    "broken json": '{"head": {"status": "1"}, "data": {',
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_replies_are_typed_errors(fake_upstream, tmp_path, name):
    async def platform(request: web.Request) -> web.Response:
        await request.post()
        if request.path.endswith("/token"):
            return web.json_response({"head": {"code": "0000"}, "data": {"token": "t"}})
        return web.Response(text=MALFORMED[name], content_type="application/json")

    relay = ProvincialRelay(ProvincialConfig(base_url=await fake_upstream(platform), region="320100",
                                             serial_file=str(tmp_path / "s")))
    try:
        with pytest.raises(BadUpstream):
            await relay.send(Service.MARRIAGE_QUERY, {}, call())
    finally:
        await relay.close()


@pytest.mark.parametrize("body", ["<html>502</html>", json.dumps({"head": {"code": "0000"}, "data": {}}),
                                  json.dumps({"head": {"code": "0000"}, "data": {"token": 5}}), "A" * (3 * 1024 * 1024)])
async def test_a_broken_token_reply_is_a_typed_error(fake_upstream, tmp_path, body):
    relay = ProvincialRelay(ProvincialConfig(base_url=await fake_upstream(answering(body)), region="320100",
                                             serial_file=str(tmp_path / "s")))
    try:
        with pytest.raises(UpstreamError):
            await relay.send(Service.MARRIAGE_QUERY, {}, call())
    finally:
        await relay.close()


def test_every_service_carried_has_a_success_flag():
    assert set(SUCCESS) == set(ProvincialRelay.codes) == set(CXYWLB)
