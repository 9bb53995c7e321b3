"""公安部 identity check, as the node knows it (core/operations.py)."""
from __future__ import annotations

from querynode.core.operations import Badge, Card, Department, Form, Operation, Row
from querynode.core.validate import person
from querynode.domain.model import IdentityQuery, IdentityResult, IdentityVerdict
from querynode.security.masking import mask_person

DEPARTMENT = Department("identity", "公安部", default_port=18001, cache_ttl_seconds=600,
                        connector="connectors.identity.client:IdentityConnector")

_ITEMS = {"NAME": "姓名", "ID_NUMBER": "证件号码"}


def _cards(r: IdentityResult) -> list[Card]:
    if not r.mismatched_items:
        return []
    return [Card("核查结果", (Row("不一致项", "、".join(_ITEMS[i.value] for i in r.mismatched_items)),))]


def _as_is(r: IdentityResult) -> IdentityResult:
    return r  # a verdict and which items differ: nothing personal to mask


_BADGES = {IdentityVerdict.MATCH: Badge("一致", "good"), IdentityVerdict.MISMATCH: Badge("不一致", "blocked"),
           IdentityVerdict.NOT_FOUND: Badge("未查到", "attention"),
           IdentityVerdict.SOURCE_UNAVAILABLE: Badge("来源不可用", "unavailable")}


OPERATIONS = (
    Operation(
        name="VerifyIdentity", department="identity", query_type=IdentityQuery, result_type=IdentityResult,
        label="身份核验", summary="Verify name + resident ID number (公安部)", http_path="/api/v1/identity/verify",
        verdict=lambda r: r.verdict.value, validate=person,
        masking={"masked": _as_is, "verdict": _as_is},
        form=Form("identity", lambda q: mask_person(q.name, q.id_number), _cards, badge=lambda q, r: _BADGES[r.verdict]),
        rpc="VerifyIdentity",
    ),
)
