"""市场监管总局 企业基本信息 replies (INTERFACES.md §6; field names already lower case) -> domain.

Query (企业基本信息查询, `zw_samr_enterprise_query`): a list of rows `uniscid entname regno
enttypecn|enttypcn regcap regcapcurcn estdate apprdate regstatecn regorgcn opfrom opto name dom
opscope sextnodenum`. Dates arrive as epoch milliseconds (Asia/Shanghai), sometimes as
yyyyMMddHHmmss numbers or as text dates. `regcap` is a number of 万元.

Verify (企业基本信息验证, `zw_samr_enterprise_check`): one object `ent_idx {entname, uniscid}`,
`entchk_checkres_key` 01-06, `regstatecn`, `diff_list [{chk_key, in_val, out_val}]`.

`regstateCn` is free text: it is normalised (spaces, punctuation, brackets) and read against the
states the register is known to write. A state the node does not know (迁出, 撤销, 停业 ...) is
left to a person: Undecided -> SOURCE_UNAVAILABLE with the reason, never a verdict (and no
circuit-breaker failure). Anything outside the documented shape is BadUpstream. Messages never quote values from the reply.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from connectors.base import BadUpstream, Rejected, Unavailable, Undecided
from connectors.base.wire import SHANGHAI
from connectors.credit_code.types import CheckOutcome, Difference, EnterpriseCheckQuery, EnterpriseCheckResult
from querynode.domain.model import Organization, OrganizationQuery, OrganizationResult, OrganizationStatus
from querynode.domain.names import same_name

DEPT = "credit_code"
S = OrganizationStatus
# regstateCn, normalised (see `status_key`), -> status. 吊销 alone is 吊销，未注销 (the licence
# revoked, the company not yet deregistered); a revoked company that was deregistered is gone.
STATUS = {
    "存续": S.ACTIVE, "存续在营开业在册": S.ACTIVE, "在营": S.ACTIVE, "在营开业": S.ACTIVE, "开业": S.ACTIVE,
    "在业": S.ACTIVE, "在册": S.ACTIVE, "正常": S.ACTIVE,
    "吊销": S.REVOKED, "吊销未注销": S.REVOKED,
    "注销": S.CANCELLED, "已注销": S.CANCELLED, "吊销已注销": S.CANCELLED,
}
_SEPARATORS = re.compile(r"[\s,，.。、;；:：()（）\[\]【】]+")
_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
_TEXT_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T][\d:.]+)?$")
MAX_TEXT = 4000
REQUIRED = ("uniscid", "entname", "regstatecn")
OPTIONAL = ("regno", "enttypecn", "enttypcn", "regcapcurcn", "regorgcn", "name", "dom", "opscope", "sextnodenum")
DATES = ("estdate", "apprdate", "opfrom", "opto")
# entchk_checkres_key: 01/03/04 judged; 02 ambiguous and 05 a refused request are permanent; 06 an error.
OUTCOMES = {"01": CheckOutcome.NOT_FOUND, "03": CheckOutcome.MATCH, "04": CheckOutcome.MISMATCH}


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def status_key(text: str) -> str:
    return _SEPARATORS.sub("", text)


def status_of(text: str) -> OrganizationStatus:
    status = STATUS.get(status_key(text))
    if status is None:
        raise Undecided(f"{DEPT}: registration state (regstateCn) the node does not know: left to a person")
    return status


# ------------------------------------------------------------------ query


def parse(data: object, query: OrganizationQuery) -> OrganizationResult:
    rows = [data] if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise bad("reply data is not a list of rows")
    orgs = tuple(organization(row, query) for row in rows)
    if len({o.credit_code for o in orgs}) != len(orgs):
        raise bad("record repeated in the reply")
    return OrganizationResult(orgs)


def organization(row: object, query: OrganizationQuery) -> Organization:
    if not isinstance(row, dict):
        raise bad("record is not an object")
    text = texts(row)
    code = text["uniscid"]
    if not _CODE.match(code):
        raise bad("record credit code is malformed")
    # A record for another code or name than asked would be an answer about someone else.
    if (query.credit_code and code != query.credit_code) or (
            query.name and not same_name(text["entname"], query.name)):
        raise bad("record does not match the query")
    return Organization(
        credit_code=code, name=text["entname"], legal_representative=text["name"],
        org_type=text["enttypecn"] or text["enttypcn"], domicile=text["dom"],
        registered_capital=capital(row.get("regcap"), text["regcapcurcn"]),
        established_on=day(row.get("estdate"), "establishment"), issuing_office=text["regorgcn"],
        status=status_of(text["regstatecn"]), status_text=text["regstatecn"], scope=text["opscope"],
    )


def texts(row: dict) -> dict[str, str]:
    """The row's text fields, trimmed; BadUpstream when one is of another type or unprintable."""
    if any(not isinstance(row.get(k), str) or not row[k].strip() for k in REQUIRED):
        raise bad("record lacks a required text field")
    if any(row.get(k) is not None and not isinstance(row[k], str) for k in OPTIONAL):
        raise bad("record has an optional field that is not text")
    text = {k: (row.get(k) or "").strip() for k in (*REQUIRED, *OPTIONAL)}
    if any(len(v) > MAX_TEXT or not v.isprintable() for v in text.values()):
        raise bad("text field too long or with control characters")
    return text


def capital(amount: object, currency: str) -> str:
    """regcap is a number of 万元: 500 + 人民币元 -> "500万元人民币"."""
    if amount is None or amount == "":
        return ""
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        raise bad("registered capital is not a number")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise bad("registered capital is not a number") from None
    if not value.is_finite() or value < 0:
        raise bad("registered capital is out of range")
    return f"{format(value.normalize(), 'f')}万元{currency.removesuffix('元')}"


def day(value: object, which: str) -> str:
    """A date as the relays send it -> YYYY-MM-DD: epoch milliseconds (the Asia/Shanghai day),
    a yyyyMMddHHmmss number, or text yyyy-MM-dd (with a time or not); null or absent -> ""."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            if 10**13 <= value < 10**14 and str(value)[:2] in ("19", "20"):  # yyyyMMddHHmmss
                digits = str(value)
                return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])).isoformat()
            if not 0 <= value < 4102444800000:  # before 2100
                raise ValueError
            return datetime.fromtimestamp(value / 1000, SHANGHAI).date().isoformat()
        match = _TEXT_DATE.match(value.strip()) if isinstance(value, str) else None
        if match:
            return date(*(int(g) for g in match.groups())).isoformat()
    except (ValueError, OverflowError):
        pass
    raise bad(f"{which} date is not epoch milliseconds or a date")


# ------------------------------------------------------------------ verify


def parse_check(data: object, query: EnterpriseCheckQuery) -> EnterpriseCheckResult:
    if isinstance(data, list) and len(data) == 1:  # cxjg as a one-item array (cxywcs is an array)
        data = data[0]
    if not isinstance(data, dict):
        raise bad("verify reply is not an object")
    key = data.get("entchk_checkres_key")
    key = str(key).strip().zfill(2) if isinstance(key, str | int) and not isinstance(key, bool) else ""
    if key == "02":
        raise Undecided(f"{DEPT}: the register finds the name and credit code ambiguous (02): left to a person")
    if key == "05":
        raise Rejected(f"{DEPT}: the register refused the request as incomplete (05)")
    if key == "06":
        raise Unavailable(f"{DEPT}: the register failed while checking (06)")
    outcome = OUTCOMES.get(key)
    if outcome is None:
        raise bad("unknown entchk_checkres_key")
    index = data.get("ent_idx")
    if index is not None:
        if not isinstance(index, dict):
            raise bad("ent_idx is not an object")
        asked = index.get("uniscid")
        if asked not in (None, "") and str(asked).strip().upper() != query.credit_code:
            raise bad("verify reply is about another credit code")
    state = data.get("regstatecn")
    if state is not None and not isinstance(state, str):
        raise bad("regstateCn is not text")
    state = (state or "").strip()
    if outcome == CheckOutcome.NOT_FOUND:
        return EnterpriseCheckResult(outcome)
    return EnterpriseCheckResult(outcome, status=status_of(state).value if state else "", status_text=state,
                                 differences=differences(data.get("diff_list"), outcome))


def differences(value: object, outcome: CheckOutcome) -> tuple[Difference, ...]:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise bad("diff_list is not a list")
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise bad("diff_list entry is not an object")
        fields = [item.get(k) for k in ("chk_key", "in_val", "out_val")]
        if any(v is not None and not isinstance(v, str | int | float) for v in fields):
            raise bad("diff_list entry holds something other than text")
        item_text = ["" if v is None else str(v).strip() for v in fields]
        if not item_text[0] or any(len(v) > MAX_TEXT or not v.isprintable() for v in item_text):
            raise bad("diff_list entry without its item or with control characters")
        out.append(Difference(*item_text))
    if outcome == CheckOutcome.MISMATCH and not out:
        raise bad("a mismatch (04) that names no difference")
    if outcome == CheckOutcome.MATCH and out:
        raise bad("a full match (03) that lists differences")
    return tuple(out)
