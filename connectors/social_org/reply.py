"""MZ02 reply `{count, rows[]}` (INTERFACES.md §12.1; field names in either case, §12.2) ->
domain organisations.

The register carries no status field: a listed organisation whose certificate is valid today
is 正常 (ACTIVE). An expired certificate says nothing sure about the organisation, so the
check is left to a person (SOURCE_UNAVAILABLE), never turned into a verdict.
"""
from __future__ import annotations

import re
from datetime import date, datetime

from connectors.base import BadUpstream
from connectors.base.wire import SHANGHAI, text_record
from connectors.social_org.types import SocialOrgQuery, SocialOrgResult
from querynode.domain.model import Organization, OrganizationStatus
from querynode.domain.names import same_name

DEPT = "social_org"
REQUIRED = ("org_name", "usc_code")
OPTIONAL = ("legal_name", "registered_capital", "business_scope", "activity_range", "domicile_addres",
            "valid_from", "valid_to", "issue_certificate_dept", "registration_date", "manager_dept", "ifcharity")
# GB 32100 category (second character) of a code registered by 民政.
CATEGORY = {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他社会组织"}
_CODE = re.compile(r"^5[0-9A-HJ-NPQRTUWXY]{17}$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})( \d{2}:\d{2}:\d{2})?$")
MAX_TEXT = 2000


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def parse(data: object, query: SocialOrgQuery) -> SocialOrgResult:
    if not isinstance(data, dict):
        raise bad("reply data is not an object")
    count, rows = data.get("count"), data.get("rows")
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    if type(count) is not int or not isinstance(rows, list) or count != len(rows):
        raise bad("count and rows missing or disagreeing")
    orgs = tuple(organization(row, query) for row in rows)
    if len({o.credit_code for o in orgs}) != len(orgs):
        raise bad("organisation repeated in the reply")
    return SocialOrgResult(orgs)


def organization(row: object, query: SocialOrgQuery) -> Organization:
    row = text_record(DEPT, row, REQUIRED, OPTIONAL, non_empty=True)
    text = {k: (row.get(k) or "").strip() for k in (*REQUIRED, *OPTIONAL)}
    if any(len(v) > MAX_TEXT or not v.isprintable() for v in text.values()):
        raise bad("text field too long or with control characters")
    code = text["usc_code"]
    if not _CODE.match(code) or code[1] not in CATEGORY:
        raise bad("record credit code is malformed")
    if (query.credit_code and code != query.credit_code) or (
            query.name and not same_name(text["org_name"], query.name)):
        raise bad("record does not match the query")
    if text["ifcharity"] not in ("", "1", "2"):
        raise bad("unknown ifcharity code")
    valid_to = _date(text["valid_to"])
    if valid_to is None or valid_to < datetime.now(SHANGHAI).date():
        raise bad("no certificate valid today: a person must judge the organisation's state")
    registered = _date(text["registration_date"])
    return Organization(
        credit_code=code, name=text["org_name"], legal_representative=text["legal_name"],
        org_type=CATEGORY[code[1]] + ("（慈善组织）" if text["ifcharity"] == "1" else ""),
        domicile=text["domicile_addres"], registered_capital=text["registered_capital"],
        established_on=registered.isoformat() if registered else "",
        issuing_office=text["issue_certificate_dept"], status=OrganizationStatus.ACTIVE,
        status_text=f"登记证书有效期至 {valid_to.isoformat()}", scope=text["business_scope"],
    )


def _date(value: str) -> date | None:
    if not value:
        return None
    match = _DATE.match(value)
    if not match:
        raise bad("date is not yyyy-MM-dd")
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        raise bad("date is not a real date") from None
