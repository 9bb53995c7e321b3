"""SAMR reply pages and records -> domain organisations. Anything outside the protocol is
BadUpstream; messages never quote values from the reply (they may be personal data)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from connectors.base import BadUpstream, Unavailable
from connectors.base.wire import json_object
from querynode.domain.model import Organization, OrganizationQuery, OrganizationStatus
from querynode.domain.names import same_name

DEPT = "credit_code"

# REGSTATE_CN texts SAMR uses; a revoked company that was then deregistered no longer exists.
STATUS = {
    "存续（在营、开业、在册）": OrganizationStatus.ACTIVE,
    "存续": OrganizationStatus.ACTIVE,
    "在营（开业）": OrganizationStatus.ACTIVE,
    "开业": OrganizationStatus.ACTIVE,
    "在业": OrganizationStatus.ACTIVE,
    "吊销，未注销": OrganizationStatus.REVOKED,
    "吊销": OrganizationStatus.REVOKED,
    "吊销，已注销": OrganizationStatus.CANCELLED,
    "注销": OrganizationStatus.CANCELLED,
}
# In-band reply codes: 0000 success; 5000/5003 the platform is busy or in maintenance.
BUSY_CODES = {"5000", "5003"}
_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TEXT_FIELDS = ("UNISCID", "ENTNAME", "NAME", "ENTTYPE_CN", "DOM", "REGCAP", "REGCAPCUR_CN", "ESTDATE",
               "REGORG_CN", "REGSTATE_CN")


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def access_token(raw: bytes) -> tuple[str, float]:
    """The token reply: (token, lifetime in seconds)."""
    reply = json_object(DEPT, raw)
    token, lifetime = reply.get("access_token"), reply.get("expires_in")
    if not isinstance(token, str) or not token or len(token) > 512 or not token.isprintable():
        raise bad("token reply has no usable access_token")
    if type(lifetime) is not int or lifetime <= 0:
        raise bad("token reply has no valid expires_in")
    return token, float(lifetime)


@dataclass(frozen=True)
class Page:
    total: int
    page_no: int
    page_size: int
    records: tuple[Organization, ...]


def parse_page(raw: bytes, query: OrganizationQuery) -> Page:
    reply = json_object(DEPT, raw)
    code = reply.get("code")
    if code in BUSY_CODES:
        raise Unavailable(f"{DEPT}: department busy (code {code})")
    if code != "0000":
        raise bad("unknown reply code")
    data = reply.get("data")
    if not isinstance(data, dict):
        raise bad("reply has no data")
    total, page_no, page_size, rows = (data.get(k) for k in ("total", "pageNo", "pageSize", "list"))
    if not all(type(v) is int for v in (total, page_no, page_size)) or not isinstance(rows, list):
        raise bad("paging fields missing or not integers")
    if total < 0 or page_no < 1 or page_size < 1:
        raise bad("paging fields out of range")
    return Page(total, page_no, page_size, tuple(organization(row, query) for row in rows))


def organization(row: object, query: OrganizationQuery) -> Organization:
    if not isinstance(row, dict):
        raise bad("record is not an object")
    if any(not isinstance(row.get(k), str) for k in TEXT_FIELDS):
        raise bad("record lacks a required text field")
    scope = row.get("OPSCOPE") or ""
    if not isinstance(scope, str):
        raise bad("record scope is not text")
    if not _CODE.match(row["UNISCID"]):
        raise bad("record credit code is malformed")
    # A record for another code or name than asked would be an answer about someone else.
    if (query.credit_code and row["UNISCID"] != query.credit_code) or (
            query.name and not same_name(row["ENTNAME"], query.name)):
        raise bad("record does not match the query")
    status = STATUS.get(row["REGSTATE_CN"])
    if status is None:
        raise bad("unknown registration status text")
    return Organization(
        credit_code=row["UNISCID"], name=row["ENTNAME"], legal_representative=row["NAME"],
        org_type=row["ENTTYPE_CN"], domicile=row["DOM"],
        registered_capital=_capital(row["REGCAP"], row["REGCAPCUR_CN"]),
        established_on=_date(row["ESTDATE"]), issuing_office=row["REGORG_CN"], status=status,
        status_text=row["REGSTATE_CN"], scope=scope,
    )


def _capital(amount: str, currency: str) -> str:
    """REGCAP is in 万元 as decimal text: "500.000000" + 人民币 -> "500万元人民币"."""
    if not amount:
        return ""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise bad("registered capital is not a number") from None
    if not value.is_finite() or value < 0:
        raise bad("registered capital is out of range")
    return f"{format(value.normalize(), 'f')}万元{currency}"


def _date(text: str) -> str:
    if not _DATE.match(text):
        raise bad("establishment date is not YYYY-MM-DD")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise bad("establishment date is not a real date") from None
    return text


class Pages:
    """Collects the pages of one search; raises BadUpstream when they do not add up."""

    def __init__(self, max_pages: int) -> None:
        self.max_pages = max_pages
        self.first: Page | None = None
        self.records: dict[str, Organization] = {}

    def add(self, page: Page, asked_no: int) -> bool:
        """Take the page asked for as `asked_no`; True when another page must be fetched."""
        if page.page_no != asked_no:
            raise bad("reply is for another page than asked")
        first = self.first = self.first or page
        if (page.total, page.page_size) != (first.total, first.page_size):
            raise bad("paging changed between pages")
        pages = math.ceil(first.total / first.page_size)
        if pages > self.max_pages:
            raise bad(f"{first.total} records exceed the {self.max_pages}-page limit")
        expected = max(0, min(first.page_size, first.total - (asked_no - 1) * first.page_size))
        if len(page.records) != expected:
            raise bad("page holds another number of records than its paging says")
        for org in page.records:
            if org.credit_code in self.records:
                raise bad("record repeated across pages")
            self.records[org.credit_code] = org
        return asked_no < pages
