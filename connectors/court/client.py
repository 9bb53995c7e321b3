"""最高法 司法判决信息查询, two steps (INTERFACES.md §8): GF01 查询申请 then GF99 结果反馈.

GF01 carries XML inside JSON, `{"xmlContent": "<?xml …?><datas><data>…</data></datas>"}`, one
`<data>` with 查询部门 (CXBM, CXBMBH), 查询人 (CXR, CXRBH), the 查询请求单号 (CXQQDH, the same number
the request's head carries) and the 案号 asked (AJBH); its answer is the head alone. GF99 asks
`{"cxqqdh": …}` for the result with backoff within the call's time. A result the court has not
given in time is `JudgmentResult(pending=True)`, an answer rather than an error; the request number
is kept so that asking again for the same case resumes the court's query instead of starting over.

The service looks judgments up by 案号 only: the apply `<data>` has no field for a party, so a
party-name query is refused here (SOURCE_UNAVAILABLE with the reason), never answered "not found".
"""
from __future__ import annotations

import asyncio
import hashlib
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import replace

from connectors.base import CallInfo, ConnectorConfig, Rejected, Timeout
from connectors.base.ministry import MinistryConnector
from connectors.court import reply as court_reply
from connectors.relay.contract import Service
from querynode.domain.model import JudgmentQuery, JudgmentResult

DEPT = "court"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def apply_request(case_number: str, request_number: str, dept_name: str, dept_code: str, operator: str,
                  operator_number: str) -> dict:
    """The GF01 business payload (Hefei form: XStream, no newline after the declaration)."""
    datas = ET.Element("datas")
    data = ET.SubElement(datas, "data")
    for tag, value in (("CXBM", dept_name), ("CXBMBH", dept_code), ("CXR", operator), ("CXRBH", operator_number),
                       ("CXQQDH", request_number), ("AJBH", case_number)):
        ET.SubElement(data, tag).text = value
    return {"xmlContent": DECLARATION + ET.tostring(datas, encoding="unicode", short_empty_elements=False)}


def feedback_request(request_number: str) -> dict:
    """The GF99 business payload."""
    return {"cxqqdh": request_number}


class CourtConnector(MinistryConnector):
    """Options: dept_name (查询部门名称, CXBM), dept_code (查询部门编号, CXBMBH), operator_number (查询人编号,
    CXRBH; default dept_code), region (numbers direct requests), poll_initial_seconds, poll_max_seconds,
    resume_seconds (how long a pending query may be resumed). 查询人 (CXR) is the call's operator."""

    department = DEPT
    path = "/fy/api/sfpj"
    service = Service.COURT_APPLY
    request_type = "GF01"
    request_types = {Service.COURT_APPLY: "GF01", Service.COURT_FEEDBACK: "GF99"}

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        if self.relay is not None:
            self.relay.code_for(Service.COURT_FEEDBACK)  # a relay carrying GF01 only is a configuration error
        options = config.options
        self.dept_name = str(options.get("dept_name", "不动产登记中心"))
        self.dept_code = str(options.get("dept_code", options.get("region", "110000")))
        self.operator_number = str(options.get("operator_number", self.dept_code))
        self.poll_initial = float(options.get("poll_initial_seconds", 0.1))
        self.poll_max = float(options.get("poll_max_seconds", 1.0))
        self.resume_seconds = float(options.get("resume_seconds", 600))
        # sha256 of the case number -> (查询请求单号, monotonic apply time); pending ones only.
        self._pending: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def lookup(self, query: JudgmentQuery, call: CallInfo) -> JudgmentResult:
        if not query.case_number:
            raise Rejected(f"{DEPT}: the 最高法 service (GF01) looks judgments up by 案号 only, not by party")
        loop = asyncio.get_running_loop()
        # Finish a little before the call's time is up, and start no poll that could not finish.
        end = loop.time() + call.timeout - min(0.1, 0.05 * call.timeout)
        poll_time = min(0.2, 0.1 * call.timeout)
        key = hashlib.sha256(query.case_number.encode()).hexdigest()
        number = self._resumable(key)
        if number is None:
            number = await self._apply(query.case_number, call, end)
        delay = self.poll_initial
        while True:
            wait = min(delay, end - poll_time - loop.time())
            if wait < 0:
                self._remember(key, number)
                return JudgmentResult(judgments=(), pending=True)
            await asyncio.sleep(wait)
            try:
                payload = await self.ask(feedback_request(number), self._within(call, end), Service.COURT_FEEDBACK)
            except Timeout:
                self._remember(key, number)  # the court is slow, but has the query
                return JudgmentResult(judgments=(), pending=True)
            judgments = court_reply.parse(payload)
            if judgments is None:  # not answered yet
                delay = min(delay * 1.6, self.poll_max)
                continue
            self._pending.pop(key, None)
            return JudgmentResult(judgments=judgments)

    async def _apply(self, case_number: str, call: CallInfo, end: float) -> str:
        number = await self.request_number()
        payload = apply_request(case_number, number, self.dept_name, self.dept_code, call.operator_id,
                                self.operator_number)
        await self.ask(payload, replace(self._within(call, end), request_number=number), Service.COURT_APPLY)
        return number

    @staticmethod
    def _within(call: CallInfo, end: float) -> CallInfo:
        remaining = end - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise Timeout(f"{DEPT}: no time left for the call")
        return replace(call, timeout=remaining)

    def _resumable(self, key: str) -> str | None:
        entry = self._pending.get(key)
        if entry is None:
            return None
        number, applied = entry
        if time.monotonic() - applied > self.resume_seconds:
            del self._pending[key]
            return None
        return number

    def _remember(self, key: str, number: str) -> None:
        if key not in self._pending:
            self._pending[key] = (number, time.monotonic())
        while len(self._pending) > 10_000:
            self._pending.popitem(last=False)
