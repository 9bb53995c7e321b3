"""ZB01 reply (a bare JSON array, INTERFACES.md §12.3) -> domain organisations.

`qlbs` says which register answered (党群机关 or 事业单位); `zt` is its status code. Only the
codes that say plainly whether the body exists are judged: 冻结 and 证书废止 of a 事业单位, and
any code not in the list, leave the check to a person (Undecided: SOURCE_UNAVAILABLE, never a
verdict, and no mark against the department's health).
"""
from __future__ import annotations

import re

from connectors.base import BadUpstream, Undecided
from connectors.base.wire import text_record
from connectors.organ.types import OrganQuery, OrganResult
from querynode.domain.model import Organization, OrganizationStatus
from querynode.domain.names import same_name

DEPT = "organ"
S = OrganizationStatus
# qlbs -> zt -> (status, text); None: a state the node does not turn into a verdict.
STATUS: dict[str, dict[str, tuple[OrganizationStatus | None, str]]] = {
    "事业单位": {"0": (S.ACTIVE, "正常"), "1": (None, "证书废止"), "2": (S.REVOKED, "已吊销"),
             "3": (None, "冻结"), "9": (S.CANCELLED, "注销")},
    "党群机关": {"0": (S.ACTIVE, "正常"), "1": (S.CANCELLED, "已撤销")},
}
REQUIRED = ("qlbs", "tyshxydm", "onemc", "zt")
OPTIONAL = ("twomc", "threemc", "qtmc", "sjrq", "fzr", "zs", "jbdw", "jfly", "kbzj", "djgljg", "zzhywfw",
            "yxqx_s", "yxqx_z", "yxqxs", "yxqxz", "ywlx", "jgdz", "bfrq", "jgxz", "fmjg")
_CODE = re.compile(r"^1[0-9A-HJ-NPQRTUWXY]{17}$")
MAX_TEXT = 2000


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def parse(data: object, query: OrganQuery) -> OrganResult:
    if not isinstance(data, list):
        raise bad("reply data is not an array")
    orgs = tuple(organization(row, query) for row in data)
    if len({o.credit_code for o in orgs}) != len(orgs):
        raise bad("body repeated in the reply")
    return OrganResult(orgs)


def organization(row: object, query: OrganQuery) -> Organization:
    if isinstance(row, dict):  # zt arrives as a number from some relays
        row = {k: str(v) if type(v) is int else v for k, v in row.items()}
    row = text_record(DEPT, row, REQUIRED, OPTIONAL, non_empty=True)
    text = {k: (row.get(k) or "").strip() for k in (*REQUIRED, *OPTIONAL)}
    if any(len(v) > MAX_TEXT or not v.isprintable() for v in text.values()):
        raise bad("text field too long or with control characters")
    if not _CODE.match(text["tyshxydm"]):
        raise bad("record credit code is malformed")
    if (query.credit_code and text["tyshxydm"] != query.credit_code) or (
            query.name and not same_name(text["onemc"], query.name)):
        raise bad("record does not match the query")
    codes = STATUS.get(text["qlbs"])
    if codes is None:
        raise bad("unknown qlbs")
    if text["zt"] not in codes:  # the register answered; the node does not know the code
        raise Undecided(f"{DEPT}: unknown zt status code, a status the node does not judge")
    status, status_text = codes[text["zt"]]
    if status is None:
        # permanent (another try answers the same), and no sign of a failing department
        raise Undecided(f"{DEPT}: a status the node does not judge (冻结 or 证书废止)")
    public = text["qlbs"] == "事业单位"
    return Organization(
        credit_code=text["tyshxydm"], name=text["onemc"], legal_representative=text["fzr"], org_type=text["qlbs"],
        domicile=text["zs"] if public else text["jgdz"], registered_capital=text["kbzj"],
        established_on="",  # ZB01 carries no date of establishment
        issuing_office=text["djgljg"] if public else text["fmjg"], status=status, status_text=status_text,
        scope=text["zzhywfw"],
    )
