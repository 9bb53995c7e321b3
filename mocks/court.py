"""Mock Supreme People's Court judgment query (最高人民法院 司法案件查询).

Asynchronous, in two steps, each a signed form POST answered with XML:

1. `POST /fyapi/v1/cx/submit` — appId, timestamp (ms), nonce, cxqqdh (查询请求单号: 8-digit
   date + 6-digit division code + 6-digit serial), cxdw (asking office), cxr (clerk), ywbh
   (business number), cxlx (`AH` by case number, `DSR` by party) with ah or dsrmc, and sign.
   Replies `<Code>0000</Code>` with the accepted cxqqdh.
2. `POST /fyapi/v1/cx/result` — appId, timestamp, nonce, cxqqdh, sign. Replies `0100`
   (处理中) until the query is ready (`ready_after` seconds after submission; the case marked
   `pending` in the world takes `slow_after`), then `0000` with the case records: 案号,
   court, cause, parties with role codes, and documents whose full text is base64 HTML.

sign = hex HMAC-SHA256(shared secret, "k1=v1&k2=v2..." over the other non-empty fields
sorted by name). Error codes: 1001 signature/app refused, 1002 malformed request, 1003
request number used before, 1004 unknown request number.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import re
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape

from aiohttp import web

from mocks.court_cases import CourtCase, Document, generate
from mocks.server import MockDepartment
from mocks.world import World

MAX_SKEW_MS = 5 * 60 * 1000
KEEP_SECONDS = 30 * 60  # how long a submitted query's result stays fetchable
ROLE_CODES = {"原告": "01", "被告": "02", "第三人": "03", "上诉人": "04", "被上诉人": "05",
              "申请执行人": "06", "被执行人": "07", "申请人": "08", "被申请人": "09"}
DOCUMENT_CODES = {"判决书": "1", "裁定书": "2", "调解书": "3", "决定书": "4"}
REQUEST_NUMBER = re.compile(r"^\d{8}\d{6}\d{6}$")


def signing_string(fields: dict[str, str]) -> bytes:
    return "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "sign" and v != "").encode()


def sign(secret: str, fields: dict[str, str]) -> str:
    return hmac.new(secret.encode(), signing_string(fields), hashlib.sha256).hexdigest()


def half_width(case_number: str) -> str:
    return case_number.replace("（", "(").replace("）", ")")


@dataclass
class Submitted:
    app_id: str
    ready_at: float
    cases: tuple[CourtCase, ...]


LATER_INSTANCES = ("民终", "民再", "民申")


class CourtDepartment(MockDepartment):
    name = "court"

    def __init__(self, world: World, secrets: dict[str, str], *, ready_after: float = 0.3,
                 slow_after: float = 20.0) -> None:
        self.secrets = secrets
        self.ready_after = ready_after
        self.slow_after = slow_after
        self.cases = generate(world)
        self.by_number = {c.case_number: c for c in self.cases}
        self.by_party: dict[str, list[CourtCase]] = {}
        for case in self.cases:
            for name in dict.fromkeys(p.name for p in case.parties):
                self.by_party.setdefault(name, []).append(case)
        # A case-number query also returns the later appeals and retrials of that case (关联案件),
        # as the court's docket links them: each cites the first case's number.
        self.later: dict[str, list[CourtCase]] = {}
        for case in self.cases:
            if case.case_type in LATER_INSTANCES:
                cited = {n for d in case.documents for t in d.body for n in self.by_number if n in t}
                for number in cited - {case.case_number}:
                    self.later.setdefault(number, []).append(case)
        self.slow = {c.case_number for c in self.cases if c.kind == "pending"}
        self.submitted: dict[str, Submitted] = {}
        self._nonces: dict[str, float] = {}
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/fyapi/v1/cx/submit", self.submit)
        app.router.add_post("/fyapi/v1/cx/result", self.result)

    # ------------------------------------------------------------ steps

    async def submit(self, request: web.Request) -> web.Response:
        fields, refusal = await self._signed_fields(request)
        if refusal is not None:
            return refusal
        number = fields.get("cxqqdh", "")
        if not REQUEST_NUMBER.match(number):
            return reply("1002", "查询请求单号格式错误")
        if number in self.submitted:
            return reply("1003", "查询请求单号重复")
        kind = fields.get("cxlx")
        if kind == "AH" and fields.get("ah"):
            case = self.by_number.get(_full_width(fields["ah"]))
            cases: tuple[CourtCase, ...] = (case, *self.later.get(case.case_number, ())) if case else ()
            delay = self.slow_after if case and case.case_number in self.slow else self.ready_after
        elif kind == "DSR" and fields.get("dsrmc"):
            cases, delay = tuple(self.by_party.get(fields["dsrmc"].strip(), ())), self.ready_after
        else:
            return reply("1002", "查询类型或查询条件缺失")
        loop = asyncio.get_running_loop()
        self._forget_old(loop.time())
        self.submitted[number] = Submitted(fields["appId"], loop.time() + delay, cases)
        self.stats["submitted"] += 1
        return reply("0000", "受理成功", f"<CXQQDH>{number}</CXQQDH>")

    async def result(self, request: web.Request) -> web.Response:
        fields, refusal = await self._signed_fields(request)
        if refusal is not None:
            return refusal
        query = self.submitted.get(fields.get("cxqqdh", ""))
        if query is None or query.app_id != fields["appId"]:
            return reply("1004", "查询请求单号不存在")
        if asyncio.get_running_loop().time() < query.ready_at:
            self.stats["not_ready"] += 1
            return reply("0100", "查询处理中，请稍后获取结果")
        body = "".join(case_xml(c) for c in query.cases)
        return reply("0000", "查询成功", f"<CXQQDH>{fields['cxqqdh']}</CXQQDH>",
                     f'<Body><Cases total="{len(query.cases)}">{body}</Cases></Body>')

    # ------------------------------------------------------------ plumbing

    async def _signed_fields(self, request: web.Request) -> tuple[dict[str, str], web.Response | None]:
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        secret = self.secrets.get(fields.get("appId", ""))
        ts, nonce = fields.get("timestamp", ""), fields.get("nonce", "")
        now_ms = int(time.time() * 1000)
        if secret is None or not ts.isdigit() or abs(now_ms - int(ts)) > MAX_SKEW_MS:
            self.stats["refused"] += 1
            return fields, reply("1001", "应用未授权或时间戳无效")
        if not hmac.compare_digest(sign(secret, fields), fields.get("sign", "")):
            self.stats["refused"] += 1
            return fields, reply("1001", "签名验证失败")
        if not nonce or nonce in self._nonces:
            self.stats["refused"] += 1
            return fields, reply("1001", "随机数重复")
        self._nonces[nonce] = now_ms
        if len(self._nonces) > 20_000:
            self._nonces = {n: t for n, t in self._nonces.items() if now_ms - t <= 2 * MAX_SKEW_MS}
        return fields, None

    def _forget_old(self, now: float) -> None:
        if len(self.submitted) > 10_000:
            self.submitted = {k: v for k, v in self.submitted.items() if now - v.ready_at < KEEP_SECONDS}


def _full_width(case_number: str) -> str:
    return case_number.strip().replace("(", "（").replace(")", "）")


def reply(code: str, msg: str, head: str = "", body: str = "") -> web.Response:
    text = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Head><Code>{code}</Code><Msg>{escape(msg)}</Msg>'
            f"{head}</Head>{body}</Response>")
    return web.Response(body=text.encode("utf-8"), content_type="application/xml", charset="utf-8")


# ------------------------------------------------------------------ the reply's records


def case_xml(case: CourtCase) -> str:
    """One <Case>: the old docket system printed ASCII brackets, the new one full-width."""
    number = half_width(case.case_number) if case.old_form else case.case_number
    parties = "".join(
        f"<DSR><MC>{escape(p.name)}</MC><SSDW>{ROLE_CODES[p.role]}</SSDW><ZJHM>{p.identifier}</ZJHM>"
        f"<DSRLX>{'1' if p.is_person else '2'}</DSRLX></DSR>" for p in case.parties)
    documents = "".join(
        f"<WS><WSLX>{DOCUMENT_CODES[d.doc_type]}</WSLX><WSMC>{escape(d.title)}</WSMC><CPRQ>{d.decided_on.isoformat()}</CPRQ>"
        f"<WSNR>{base64.b64encode(document_html(case, d).encode('utf-8')).decode('ascii')}</WSNR></WS>"
        for d in case.documents)
    return (f"<Case><AH>{escape(number)}</AH><FYDM>{case.court_code}</FYDM><FYMC>{escape(case.court_name)}</FYMC>"
            f"<AJLX>{case.case_type}</AJLX><AY>{escape(case.cause)}</AY><LARQ>{case.filed_on.isoformat()}</LARQ>"
            f"<DSRS>{parties}</DSRS><WSS>{documents}</WSS></Case>")


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
        f'<div class="court">{e(case.court_name)}</div><div class="title">{e(doc.title)}</div>'
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
