"""The regulator's in-band `retCode` reply -> domain licences. Anything outside the protocol
is BadUpstream; messages never quote values from the reply."""
from __future__ import annotations

import re
from datetime import date

from connectors.base import BadUpstream, Rejected, Unavailable
from connectors.base.wire import json_object
from querynode.domain.model import FinancialLicense, LicenseQuery
from querynode.domain.names import same_name

DEPT = "financial_license"

# Institution type from the licence code's first letter (机构编码, DOMAIN.md §2). The
# regulator does not send it; a letter outside this table leaves the type empty.
INSTITUTION_TYPES = {
    "A": "政策性银行", "B": "商业银行", "C": "农村合作银行", "D": "城市信用合作社", "E": "农村信用合作社",
    "F": "农村资金互助社", "J": "金融资产管理公司", "K": "信托公司", "L": "企业集团财务公司",
    "M": "金融租赁公司", "N": "汽车金融公司", "P": "货币经纪公司",
}
VALIDITY = {"有效": True, "已收回": False, "已注销": False}
# retCode: 0000 found, 1404 no such licence; 1001-1003 the request was refused; 9999 busy.
FOUND, NO_RECORD, BUSY = "0000", "1404", "9999"
REFUSED = {"1001": "signature refused", "1002": "timestamp refused", "1003": "request refused as malformed"}
TEXT_FIELDS = ("jgbm", "lsh", "jgqc", "jgjc", "ywmc", "jgdz", "fzjg", "pzrq", "fzrq", "ywfw", "zt")
_LICENSE = re.compile(r"^[A-Z]\d{4}[A-Z]\d{9}$")
_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
_DATE = re.compile(r"^\d{8}$")


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def parse_reply(raw: bytes, query: LicenseQuery) -> tuple[FinancialLicense, ...]:
    reply = json_object(DEPT, raw)
    code = reply.get("retCode")
    if code == NO_RECORD:
        return ()
    if code == BUSY:
        raise Unavailable(f"{DEPT}: department busy (retCode {BUSY})")
    if isinstance(code, str) and code in REFUSED:
        raise Rejected(f"{DEPT}: {REFUSED[code]} (retCode {code})")
    if code != FOUND:
        raise bad("unknown retCode")
    rows = reply.get("result")
    if not isinstance(rows, list) or not rows:
        raise bad("found reply without records")
    licenses = tuple(license_record(row, query) for row in rows)
    if len({x.license_code for x in licenses}) != len(licenses):
        raise bad("licence repeated in one reply")
    return licenses


def license_record(row: object, query: LicenseQuery) -> FinancialLicense:
    if not isinstance(row, dict):
        raise bad("record is not an object")
    if any(not isinstance(row.get(k), str) for k in TEXT_FIELDS):
        raise bad("record lacks a required text field")
    credit_code = row.get("tyshxydm") or ""
    if not isinstance(credit_code, str) or (credit_code and not _CREDIT_CODE.match(credit_code)):
        raise bad("record credit code is malformed")
    code = row["jgbm"]
    if not _LICENSE.match(code):
        raise bad("record licence code is malformed")
    # A record for another licence or institution would be an answer about someone else.
    if (query.license_code and code != query.license_code) or (
            query.institution_name and not same_name(row["jgqc"], query.institution_name)):
        raise bad("record does not match the query")
    valid = VALIDITY.get(row["zt"])
    if valid is None:
        raise bad("unknown licence status text")
    return FinancialLicense(
        license_code=code, serial_number=row["lsh"], institution_name=row["jgqc"], short_name=row["jgjc"],
        english_name=row["ywmc"], institution_type=INSTITUTION_TYPES.get(code[0], ""), address=row["jgdz"],
        scope=row["ywfw"], issuing_office=row["fzjg"], approved_on=_date(row["pzrq"], "approval"),
        issued_on=_date(row["fzrq"], "print"), valid=valid, credit_code=credit_code,
    )


def _date(text: str, which: str) -> str:
    """YYYYMMDD -> YYYY-MM-DD."""
    if not _DATE.match(text):
        raise bad(f"{which} date is not YYYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:
        raise bad(f"{which} date is not a real date") from None
