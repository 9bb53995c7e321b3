"""What the three mock relays share: a MockDepartment (real aiohttp server, request counter, faults)
that unwraps a relay request and hands the business payload to a handler per service code.

`handlers[code](payload) -> reply payload`, keyed by the relay's own code for the service. `carry`
fills them from the mock departments' `answers()` (keyed by the provincial `cxywlb` code, §3.5)
through the relay's own code table; a department without answers is not carried. Relay-level
misbehaviour is switched on the mock itself:

    next_statuses   relay status codes to answer the next requests with, one each (0401, 0302, 9900 ...)
    mixed_case      spell envelope field names as some relays do (Status, CXQQDH, Data ...)
    escape_text     send text payloads (XML) JSON-escaped inside an extra pair of quotes
"""
from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from mocks.server import MockDepartment

Handler = Callable[[Any], Any]

MIXED_CASE = {"status": "Status", "code": "Code", "msg": "MSG", "cxqqdh": "CXQQDH",
              "requestType": "RequestType", "data": "Data", "head": "Head", "cxjg": "CXJG",
              "biz_data": "BIZ_DATA"}


def answering(departments: Iterable[MockDepartment]) -> dict[str, tuple[MockDepartment, Handler]]:
    """Every business answer the mock departments give, with the department giving it, by `cxywlb` code."""
    answers: dict[str, tuple[MockDepartment, Handler]] = {}
    for department in departments:
        answers.update({code: (department, answer) for code, answer in getattr(department, "answers", dict)().items()})
    return answers


class MockRelay(MockDepartment):
    """Base of a mock relay; subclasses add the relay's routes."""

    def __init__(self, handlers: dict[str, Handler] | None = None) -> None:
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.next_statuses: deque[str] = deque()
        self.mixed_case = False
        self.escape_text = False
        # the latest business requests (envelope fields and payload), for tests to read
        self.seen: deque[dict[str, Any]] = deque(maxlen=1000)
        self.behind: dict[str, MockDepartment] = {}  # relay code -> the department that answers it
        super().__init__()
        self.app.middlewares.append(self.department_faults)

    def carry(self, departments: Iterable[MockDepartment]) -> None:
        """Open every service this relay has a code for and one of `departments` answers."""
        answers = answering(departments)
        for code, service in self.services().items():
            if service in answers:
                self.behind[code], answer = answers[service]
                self.handlers[code] = self.handler(answer)

    @web.middleware
    async def department_faults(self, request: web.Request, handler):
        """A request for a service meets the faults of the department behind it (its /_admin/faults
        and `python -m mocks --fault`) and is counted in its stats, as if it had reached it."""
        department = self.behind.get(await self.code_of(request) or "")
        if department is None:
            return await handler(request)
        department.stats["requests"] += 1
        return await department.faults.middleware(request, handler)

    async def code_of(self, request: web.Request) -> str | None:
        """The relay's code for the service a request asks; None when it names none."""
        raise NotImplementedError

    def services(self) -> dict[str, str]:
        """The relay's code for each service it can carry -> the service's `cxywlb` code."""
        raise NotImplementedError

    def handler(self, answer: Handler) -> Handler:
        """The handler that hands this relay's payload to a department's answer."""
        return answer

    def key(self, name: str) -> str:
        return MIXED_CASE.get(name, name) if self.mixed_case else name

    def carried(self, payload: Any) -> Any:
        """A reply payload as the relay puts it on the wire (text possibly escaped)."""
        if self.escape_text and isinstance(payload, str):
            return json.dumps(payload, ensure_ascii=False).replace("/", "\\/")
        return payload
