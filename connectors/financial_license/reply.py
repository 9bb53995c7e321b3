"""YB01 reply -> domain licence (INTERFACES.md §7; field names already lower case).

The reply is a single object, not a list: `id`, `certflowno` 流水号, `certcode` 机构编码,
`fullname`, `simplename`, `englishname`, `address`, `setdate` 设立日期, `printdate` 打印日期,
`typeid`, `organname` 监管机构, `scope`. It has no status field, so the node decides only what
the payload shows:

- no object (`null`, `{}`, an empty string or list): the register holds no licence under the code;
- a record of the code with a print date: a licence issued and held (valid);
- a record without a print date: the node cannot tell a held licence from a withdrawn one, so
  the check is left to a person (Undecided -> SOURCE_UNAVAILABLE, never a verdict).

Anything outside the documented shape is BadUpstream; messages never quote the reply.
"""
from __future__ import annotations

import re
from datetime import date

from connectors.base import BadUpstream, Undecided
from connectors.base.wire import text_record
from querynode.domain.model import FinancialLicense, LicenseQuery, LicenseResult

DEPT = "financial_license"

# Institution type from the licence code's first letter (机构编码, DOMAIN.md §2). The
# service does not send it; a letter outside this table leaves the type empty.
INSTITUTION_TYPES = {
    "A": "政策性银行", "B": "商业银行", "C": "农村合作银行", "D": "城市信用合作社", "E": "农村信用合作社",
    "F": "农村资金互助社", "J": "金融资产管理公司", "K": "信托公司", "L": "企业集团财务公司",
    "M": "金融租赁公司", "N": "汽车金融公司", "P": "货币经纪公司",
}
REQUIRED = ("certcode", "fullname")
OPTIONAL = ("id", "certflowno", "simplename", "englishname", "address", "setdate", "printdate", "typeid",
            "organname", "scope")
MAX_TEXT = 4000
_LICENSE = re.compile(r"^[A-Z]\d{4}[A-Z]\d{9}$")
# The date format is not documented: yyyy-MM-dd (with a time part or not) or yyyyMMdd.
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def parse(data: object, query: LicenseQuery) -> LicenseResult:
    if data is None or data in ("", {}, []):
        return LicenseResult(())
    if isinstance(data, list):
        raise bad("reply data is a list, not the documented single object")
    if isinstance(data, dict):  # numbers as text: some relays send ids and dates as numbers
        data = {k: str(v) if type(v) is int else v for k, v in data.items()}
    row = text_record(DEPT, data, REQUIRED, OPTIONAL, non_empty=True)
    text = {k: (row.get(k) or "").strip() for k in (*REQUIRED, *OPTIONAL)}
    if any(len(v) > MAX_TEXT or not v.isprintable() for v in text.values()):
        raise bad("text field too long or with control characters")
    code = text["certcode"]
    if not _LICENSE.match(code):
        raise bad("record licence code is malformed")
    if code != query.license_code:  # a record of another licence would be an answer about someone else
        raise bad("record does not match the query")
    if not text["printdate"]:
        raise Undecided(f"{DEPT}: licence record without a print date: whether it is held or withdrawn "
                        "cannot be told (left to a person)")
    return LicenseResult((FinancialLicense(
        license_code=code, serial_number=text["certflowno"], institution_name=text["fullname"],
        short_name=text["simplename"], english_name=text["englishname"],
        institution_type=INSTITUTION_TYPES.get(code[0], ""), address=text["address"], scope=text["scope"],
        issuing_office=text["organname"], approved_on=_date(text["setdate"], "set") if text["setdate"] else "",
        issued_on=_date(text["printdate"], "print"), valid=True,
    ),))


def _date(text: str, which: str) -> str:
    match = _DATE.match(text)
    if not match:
        raise bad(f"{which} date is not a date")
    try:
        return date(*(int(g) for g in match.groups())).isoformat()
    except ValueError:
        raise bad(f"{which} date is not a real date") from None
