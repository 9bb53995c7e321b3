"""Mock 最高人民法院 司法判决信息查询, written from INTERFACES.md §8 (two steps, asynchronous).

1. GF01 查询申请 (`supremecourt_decision_apply`): `{"xmlContent": "<?xml …?><datas><data>…</data></datas>"}`
   (over the provincial platform, a list of such items). Each `<data>` names the asking office (CXBM,
   CXBMBH), the clerk (CXR, CXRBH), the 查询请求单号 (CXQQDH) and the 案号 (AJBH). The answer is the
   relay head alone (nothing here: "").
2. GF99 结果反馈 (`supremecourt_decision_response`): `{"cxqqdh": …}` (or a list). The answer is ""
   until the query is ready (`ready_after` seconds after the apply; the case marked `pending` in the
   world takes `slow_after`), then the XML string `<RESOURCE><BRIEF><NUM>n</NUM></BRIEF><data><t_aj>…`
   with 案号 (old cases printed with ASCII brackets), parties (c_mc, c_zjhm) and documents whose HTML
   travels as Base64 broken into 76-character lines, as Java's MIME encoder writes it.

A case-number query also returns the later appeals and retrials of that case (关联案件).
"""
from __future__ import annotations

import asyncio
import base64
import html
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable
from xml.sax.saxutils import escape

from mocks.court_cases import CourtCase, Document, generate
from mocks.ministry import MinistryDepartment
from mocks.world import World

KEEP_SECONDS = 30 * 60  # how long an applied query's result stays fetchable
REQUEST_NUMBER = re.compile(r"^\d{20}$")
APPLY_FIELDS = ("CXBM", "CXBMBH", "CXR", "CXRBH", "CXQQDH", "AJBH")
LATER_INSTANCES = ("民终", "民再", "民申")


def half_width(case_number: str) -> str:
    return case_number.replace("（", "(").replace("）", ")")


@dataclass
class Applied:
    ready_at: float
    cases: tuple[CourtCase, ...]


class CourtDepartment(MinistryDepartment):
    name = "court"
    path = "/fy/api/sfpj"
    request_type = "GF01"

    def __init__(self, world: World, secrets: dict[str, str], *, ready_after: float = 0.3,
                 slow_after: float = 20.0) -> None:
        self.ready_after = ready_after
        self.slow_after = slow_after
        self.cases = generate(world)
        self.by_number = {c.case_number: c for c in self.cases}
        # A case-number query also returns the later appeals and retrials of that case (关联案件),
        # as the court's docket links them: each cites the first case's number.
        self.later: dict[str, list[CourtCase]] = {}
        for case in self.cases:
            if case.case_type in LATER_INSTANCES:
                cited = {n for d in case.documents for t in d.body for n in self.by_number if n in t}
                for number in cited - {case.case_number}:
                    self.later.setdefault(number, []).append(case)
        self.slow = {c.case_number for c in self.cases if c.kind == "pending"}
        self.applied: dict[str, Applied] = {}
        self.applications: list[dict[str, str]] = []  # every <data> received, for tests to read
        super().__init__(world, secrets)

    def answers(self) -> dict[str, Callable[[Any], Any]]:
        return {"supremecourt_decision_apply": self.apply, "supremecourt_decision_response": self.feedback}

    def accepts(self, request_type: str) -> bool:
        return request_type in ("GF01", "GF99")

    def answer(self, data: dict) -> Any:
        """The direct door: one payload, either step."""
        return self.apply(data) if "xmlContent" in data else self.feedback(data)

    # ------------------------------------------------------------ steps

    def apply(self, payload: Any) -> str:
        loop = asyncio.get_running_loop()
        self._forget_old(loop.time())
        for item in _items(payload):
            for data in ET.fromstring(item["xmlContent"].encode("utf-8")).iter("data"):
                fields = {tag: (data.findtext(tag) or "").strip() for tag in APPLY_FIELDS}
                if not all(fields.values()) or not REQUEST_NUMBER.match(fields["CXQQDH"]):
                    raise ValueError("GF01: a <data> lacks a field or its 查询请求单号 is malformed")
                self.applications.append(fields)
                case = self.by_number.get(_full_width(fields["AJBH"]))
                cases: tuple[CourtCase, ...] = (case, *self.later.get(case.case_number, ())) if case else ()
                delay = self.slow_after if case and case.case_number in self.slow else self.ready_after
                self.applied[fields["CXQQDH"]] = Applied(loop.time() + delay, cases)
                self.stats["submitted"] += 1
        return ""

    def feedback(self, payload: Any) -> str:
        now = asyncio.get_running_loop().time()
        cases: list[CourtCase] = []
        for item in _items(payload):
            query = self.applied.get(str(item.get("cxqqdh", "")))
            if query is None or now < query.ready_at:
                self.stats["not_ready"] += 1
                return ""  # the court has not answered (or does not know the number)
            cases.extend(query.cases)
        body = "".join(case_xml(c) for c in cases)
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<RESOURCE><BRIEF><NUM>{len(cases)}</NUM></BRIEF>'
                f"<data>{body}</data></RESOURCE>")

    def _forget_old(self, now: float) -> None:
        if len(self.applied) > 10_000:
            self.applied = {k: v for k, v in self.applied.items() if now - v.ready_at < KEEP_SECONDS}


def _items(payload: Any) -> list[dict]:
    """The gateway carries one object, the provincial platform an array of them."""
    items = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(i, dict) for i in items):
        raise ValueError("court: payload items are not objects")
    return items


def _full_width(case_number: str) -> str:
    return case_number.strip().replace("(", "（").replace(")", "）")


# ------------------------------------------------------------------ the reply's records


def case_xml(case: CourtCase) -> str:
    """One <t_aj>: the old docket system printed ASCII brackets (c_ah), c_gshah is the formatted number."""
    number = half_width(case.case_number) if case.old_form else case.case_number
    parties = "".join(f"<t_aj_dsr><c_mc>{escape(p.name)}</c_mc><c_zjhm>{p.identifier}</c_zjhm></t_aj_dsr>"
                      for p in case.parties)
    documents = "".join(f"<t_ws><c_nr>{mime_base64(document_html(case, d))}</c_nr></t_ws>" for d in case.documents)
    entity = uuid.uuid5(uuid.NAMESPACE_URL, case.case_number)
    return (f"<t_aj><c_stm>{entity}</c_stm><c_ah>{escape(number)}</c_ah><c_gshah>{escape(case.case_number)}</c_gshah>"
            f"{parties}{documents}</t_aj>")


def mime_base64(text: str) -> str:
    """Base64 in 76-character lines joined by CRLF (java.util.Base64.getMimeEncoder)."""
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return "\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def document_html(case: CourtCase, doc: Document) -> str:
    """The document as the court's publishing system renders it."""
    e = html.escape
    head = "".join(f"<p>{e(p.role)}：{e(p.description)}</p>" for p in case.parties)
    paragraphs = "".join(f"<p>{e(t)}</p>" for t in doc.body + doc.operative)
    closing = "".join(f'<p class="sign">{e(t)}</p>' for t in doc.closing)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{e(case.cause)}{e(doc.title)}</title>"
        "<style>p{text-indent:2em;line-height:1.8}.sign{text-align:right}</style>"
        "<script>window.__ws_viewer=1;</script></head><body>"
        f'<div class="court">{e(case.court_name)}</div><div class="title">{e(" ".join(doc.title))}</div>'
        f'<div class="ah">{e(case.case_number)}</div>{head}{paragraphs}{closing}</body></html>'
    )


# ------------------------------------------------------------------ samples


def samples(world: World) -> dict:
    """Case numbers and parties with known outcomes (for samples.json)."""
    cases = generate(world)
    kinds = {c.kind: c for c in cases if c.kind}
    numbers = {c.case_number for c in cases}
    seq = 99001
    while f"（2025）京0105民初{seq}号" in numbers:
        seq += 1
    debtor = next(p for p in kinds["seizure"].parties if p.role == "被执行人")
    debtor_cases = [c.case_number for c in cases if any(p.name == debtor.name for p in c.parties)]

    def entry(kind: str, label: str) -> dict:
        case = kinds[kind]
        return {"label": label, "case_number": case.case_number, "half_width": half_width(case.case_number),
                "court": case.court_name, "cause": case.cause,
                "document_types": [d.doc_type for d in case.documents],
                "parties": [{"name": p.name, "role": p.role, "id_number": p.identifier} for p in case.parties]}

    return {
        "sale_judgment": entry("sale", "house sale: seller must help transfer the flat (判决如下)"),
        "seizure_ruling": entry("seizure", "enforcement (执): seizure of the debtor's flat (裁定如下)"),
        "debt_in_kind": entry("debt_in_kind", "enforcement: seizure, then the flat handed over (以物抵债)"),
        "old_form": entry("old_form", "pre-2016 字第 number, printed with ( ) by the court"),
        "pending": entry("pending", "the court takes `slow_after` seconds (default 20 s): answer is pending"),
        "no_record": {"label": "valid case number the court does not know", "case_number": f"（2025）京0105民初{seq}号"},
        "party_with_several_cases": {"label": "debtor in a loan suit, its enforcement and preservation",
                                     "party_name": debtor.name, "id_number": debtor.identifier,
                                     "case_numbers": sorted(debtor_cases)},
    }
