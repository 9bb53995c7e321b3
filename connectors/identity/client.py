"""公安部 人口库 身份核查 (GA02, INTERFACES.md §5): several persons in one call.

The business payload names the registration office and its operator (`bus_sre_*`, from the
department's options), a `MessageSequence` and one `Conditions[]` entry per person:
`{"CheckCondition": {"xm": <name>}, "QueryCondition": "gmsfhm='<id>'"}` (the Anhui/Jiangsu
spelling; §5.3 says not to copy the Hefei placeholder). The lookups of one case that reach the
connector together (a case check asks for all its persons at once) go out as one call
(`connectors/base/batching.py`); each person still has its own query, cache entry, audit record
and verdict in the hub.

Options: `operator_id_card` (bus_sre_idcard, 登记人员身份证号), `dept_code` (bus_sre_deptcode,
登记部门统一信用代码), `dept_addr`, `app_name`, `business_type_code`, `business_type_name`
(业务类型, default SC000023 首次登记 as in the Anhui configuration), `max_persons_per_call`
(default 20, the most parties a case may have).
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime

from connectors.base import CallInfo
from connectors.base.batching import CaseBatcher
from connectors.base.contract import ConnectorConfig
from connectors.base.ministry import MinistryConnector
from connectors.base.wire import SHANGHAI
from connectors.identity.reply import DEPT, Outcome, parse
from connectors.relay.contract import Service
from querynode.domain.model import IdentityQuery, IdentityResult

MAX_PERSONS_PER_CALL = 20


class MessageSequence:
    """消息流水号: 14-digit Beijing time (yyyyMMddHHmmss) + 4-digit index from 0001, step 1 (§5.1)."""

    def __init__(self) -> None:
        self._index = itertools.count()

    def next(self, now: datetime | None = None) -> str:
        stamp = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
        return f"{stamp}{next(self._index) % 9999 + 1:04d}"


def request(queries: Sequence[IdentityQuery], sequence: str, options: Mapping) -> dict:
    """The GA02 business request for `queries`, one condition per person, in order."""
    return {
        "bus_sre_idcard": str(options.get("operator_id_card", "")),
        "bus_sre_deptcode": str(options.get("dept_code", "")),
        "bus_sre_deptaddr": str(options.get("dept_addr", "")),
        "bus_sre_appname": str(options.get("app_name", "不动产登记系统")),
        "bus_sre_businesstypecode": str(options.get("business_type_code", "SC000023")),
        "bus_sre_businesstypename": str(options.get("business_type_name", "首次登记")),
        "MessageSequence": sequence,
        "RequestParam": {"Conditions": [
            {"CheckCondition": {"xm": q.name}, "QueryCondition": f"gmsfhm='{q.id_number}'"} for q in queries]},
    }


def distinct_names(queries: list[IdentityQuery], query: IdentityQuery) -> bool:
    """Replies are matched to persons by name: a call never asks about one name twice."""
    return all(q.name.strip() != query.name.strip() for q in queries)


class IdentityConnector(MinistryConnector):
    department = DEPT
    path = "/mps/api/gasfhc"
    service = Service.IDENTITY_CHECK
    request_type = "GA02"

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        self.sequence = MessageSequence()
        size = int(config.options.get("max_persons_per_call", MAX_PERSONS_PER_CALL))
        self.batches = CaseBatcher(self.check, max_size=size, fits=distinct_names)

    async def lookup(self, query: IdentityQuery, call: CallInfo) -> IdentityResult:
        return await self.batches.submit(query, call)

    async def check(self, queries: list[IdentityQuery], call: CallInfo) -> list[Outcome]:
        """One GA02 call for `queries`: an outcome per person, or the call's typed error."""
        data = await self.ask(request(queries, self.sequence.next(), self.config.options), call)
        return parse(data, [q.name for q in queries])

    async def close(self) -> None:
        await self.batches.close()
        await super().close()
