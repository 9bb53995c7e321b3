"""How verdicts, checks, findings and errors read and look on the clerk's pages.

One place for every word and colour a clerk sees about a result. A colour says what the result
means for the case, never merely that something was found:

    good         nothing stands in the way (identity matches, no death record, company 存续)
    attention    a person must look (spouse consent, not found, court answer pending)
    blocked      the case cannot go on as filed (death record of a signer, revoked company,
                 withdrawn licence, name and ID do not match)
    unavailable  the department did not answer: check by hand
    stale        an old cached answer stood in for the department
    info         neutral facts (a cache age, a plain status)

Texts from the core are already masked; texts built here mask what they name.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from querynode.api.http.pages.render import beijing
from querynode.core.kinds import KINDS
from querynode.core.operations import Badge, registry
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.security.masking import mask_name

# ------------------------------------------------------------------ case and check verdicts

# Headline per case status (statuses the core may add later fall back to "须人工核验").
CASE_STATUS = {
    "CLEAR": ("所列项目未发现异常", "good"),
    "NEEDS_ATTENTION": ("需关注", "attention"),
    "BLOCKED": ("有阻断事项", "blocked"),
    "INCOMPLETE": ("核验不完整", "unavailable"),
    "STALE": ("数据可能过期", "stale"),
}
CASE_STATUS_NOTE = {
    "CLEAR": "不替代审核：仅说明所列核验项目未发现异常。",
    "NEEDS_ATTENTION": "请逐条处理下列核验发现后再受理。",
    "BLOCKED": "存在阻断事项，不能按现有材料办理。",
    "INCOMPLETE": "部分部门未答复，须人工核验后方可受理。",
    "STALE": "部分结果来自过期缓存，须重新核验。",
}
UNKNOWN_STATUS = ("须人工核验", "attention")

SEVERITY = {"BLOCKING": ("阻断", "blocked"), "WARNING": ("需关注", "attention"), "INFO": ("提示", "info")}


def department_name(value: str) -> str:
    """A department's Chinese name from its declaration; the case itself, or a name no
    declaration knows, in words a clerk can use."""
    if value == "case":
        return "案件核验"
    dept = registry().departments.get(value or "")
    return dept.title if dept else "相关部门"


def cache_text(age_seconds: float) -> str:
    """One wording for a cached answer: "缓存 刚刚" under a minute, else "缓存 n 分钟前"."""
    minutes = math.floor(age_seconds / 60)
    return "缓存 刚刚" if minutes < 1 else f"缓存 {minutes} 分钟前"


def unavailable_step(department: str) -> str:
    return f"{department}暂未答复：请稍后点击「核验」重新核验；仍不可用时，按人工核验流程向{department}核实。"


@dataclass(frozen=True)
class CheckRow:
    item: str  # 身份核查 · 转让方 龙**
    department: str
    verdict: str
    tone: str
    summary: str
    source_time: str
    flag: str = ""  # 缓存 n 分钟前 / 过期缓存
    flag_tone: str = "info"


@dataclass(frozen=True)
class FindingRow:
    severity: str
    tone: str
    message: str


@dataclass(frozen=True)
class RecordView:
    """A verification record as a clerk reads it (screen and print)."""

    record_id: str
    case_number: str
    registration_label: str
    purpose: str
    operator_id: str
    created_at: str
    status: str
    tone: str
    note: str
    parties: list[tuple[str, str, str]]
    rows: list[CheckRow]
    findings: list[FindingRow]
    by_hand: list[str]
    input_warnings: list[str] = field(default_factory=list)  # what normalising the clerk's input changed
    judgment_case_number: str = ""
    place_name: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def party_labels(parties: list[dict]) -> dict[int, str]:
    """"转让方 龙**", with the party's number among those of the same role when the role repeats
    ("继承人 2 谢**"), so two heirs named 谢 are told apart."""
    counts: dict[str, int] = {}
    for p in parties:
        counts[p["role"]] = counts.get(p["role"], 0) + 1
    seen: dict[str, int] = {}
    labels = {}
    for p in parties:
        seen[p["role"]] = seen.get(p["role"], 0) + 1
        number = f" {seen[p['role']]}" if counts[p["role"]] > 1 else ""
        who = p.get("name") or p.get("organization_name") or p.get("credit_code") or p.get("license_code") or ""
        labels[p["index"]] = f"{p.get('role_label', '')}{number} {who}".strip()
    return labels


def _check_verdict(check: dict, blocking_ids: set[str]) -> tuple[str, str]:
    status, kind = check["status"], check.get("kind", "")
    if status == "OK":
        return ("一致", "good") if kind == "identity" else ("未见异常", "good")
    if status == "ATTENTION":
        if check["check_id"] in blocking_ids:
            return ("不一致", "blocked") if kind == "identity" else ("阻断", "blocked")
        return "需关注", "attention"
    return {"UNAVAILABLE": ("来源不可用", "unavailable"), "PENDING": ("法院尚未答复", "attention"),
            "STALE": ("数据可能过期", "stale"), "BLOCKED": ("阻断", "blocked")}.get(status, UNKNOWN_STATUS)


KIND_ORDER = tuple(KINDS)  # the order the kinds are declared, which is the order plans run them for a party


def kind_title(kind: str) -> str:
    """What a check kind is called on the page, from its declaration (core/kinds.py)."""
    declared = KINDS.get(kind)
    return declared.title if declared else "核查"


def _order(check: dict) -> tuple[int, int, int, str]:
    """Party by party as on the form (case-level checks last), the party's own checks in plan
    order, then the follow-ups about the party's spouse."""
    index = check.get("party_index", -1)
    kind = check.get("kind", "")
    follow_up = len(check["check_id"].split(":")) == 4
    return (index if index >= 0 else 10_000, int(follow_up), KIND_ORDER.index(kind) if kind in KIND_ORDER else 99,
            check["check_id"])


def check_row(check: dict, labels: dict[int, str], blocking_ids: set[str]) -> CheckRow:
    kind = check.get("kind", "")
    provenance = check.get("provenance") or {}
    department = department_name(provenance.get("department") or "")
    who = labels.get(check.get("party_index", -1)) or {"judgment": "裁判文书", "place_name": "地名"}.get(kind, "")
    parts = check["check_id"].split(":")
    if len(parts) == 4 and parts[1] == "spouse":  # a follow-up about the party's spouse (death:spouse:seller:0)
        who += " 的配偶"
    verdict, tone = _check_verdict(check, blocking_ids)
    if provenance.get("stale") and tone == "good":  # an old cached answer never looks settled
        verdict, tone = "数据可能过期", "stale"
    summary = check.get("summary", "")
    if check["status"] == "UNAVAILABLE":
        summary = unavailable_step(department)  # the core's text may carry a transport reason
    elif check["status"] == "PENDING":
        summary = "法院尚未返回查询结果：请稍后在「今日查询记录」中重新打开本案，或按人工核验流程核实。"
    flag, flag_tone = "", "info"
    if provenance.get("stale"):
        flag, flag_tone = f"过期缓存（{cache_text(provenance.get('cache_age_seconds', 0))[3:]}）", "stale"
    elif provenance.get("from_cache"):
        flag = cache_text(provenance.get("cache_age_seconds", 0))
    return CheckRow(f"{kind_title(kind)} · {who}", department, verdict, tone, summary,
                    beijing(provenance.get("source_time"), "%Y-%m-%d %H:%M"), flag, flag_tone)


def record_view(record: dict) -> RecordView:
    labels = party_labels(record.get("parties", []))
    findings = record.get("findings", [])
    blocking_ids = {c for f in findings if f.get("severity") == "BLOCKING" for c in f.get("check_ids", [])}
    checks = sorted(record.get("checks", []), key=_order)
    rows = [check_row(c, labels, blocking_ids) for c in checks]
    ordered = sorted(findings, key=lambda f: list(SEVERITY).index(f["severity"]) if f["severity"] in SEVERITY else 9)
    finding_rows = [FindingRow(*SEVERITY.get(f["severity"], ("提示", "info")), f["message"]) for f in ordered]
    by_hand = [f"{row.item}：{row.summary}" if row.tone != "stale" else f"{row.item}：数据来自过期缓存，请重新核验"
               for c, row in zip(checks, rows) if c["status"] not in ("OK", "ATTENTION") or row.tone == "stale"]
    status_key = record["status"]
    if any(f.get("severity") == "BLOCKING" for f in findings):
        status_key = "BLOCKED"  # a blocker is the headline, even beside open checks
    elif status_key == "CLEAR" and any(row.tone == "stale" for row in rows):
        status_key = "STALE"  # the page never shows a clean headline over a stale answer
    status, tone = CASE_STATUS.get(status_key, UNKNOWN_STATUS)
    case = record.get("case", {})
    parties = [(labels[p["index"]].rsplit(" ", 1)[0] if " " in labels[p["index"]] else p.get("role_label", ""),
                p.get("name") or p.get("organization_name") or "—",
                p.get("id_number") or p.get("credit_code") or p.get("license_code") or "—")
               for p in record.get("parties", [])]
    return RecordView(
        record_id=record["record_id"], case_number=case.get("case_number", ""),
        registration_label=case.get("registration_label", ""), purpose=case.get("purpose", ""),
        operator_id=case.get("operator_id", ""), created_at=beijing(record.get("created_at"), "%Y年%m月%d日 %H:%M:%S"),
        status=status, tone=tone,
        note=(record.get("status_text") if status_key != "CLEAR" else "") or CASE_STATUS_NOTE.get(status_key, "请人工核验后再受理。"),
        parties=parties, rows=rows, findings=finding_rows, by_hand=by_hand,
        input_warnings=[w for w in record.get("input_warnings", []) if isinstance(w, str)],
        judgment_case_number=case.get("judgment_case_number", ""), place_name=case.get("place_name", ""), raw=record)


def progress_item(entry: dict, parties: list[dict]) -> dict:
    """One streamed check, as the progress list shows it (the same words as the result table)."""
    row = check_row(entry, party_labels(parties), set())
    if entry["status"] == "ATTENTION":  # findings come with the summary; until then: look at it
        row = CheckRow(row.item, row.department, "需关注", "attention", row.summary, row.source_time, row.flag,
                       row.flag_tone)
    return {"item": row.item, "badge": row.verdict, "tone": row.tone, "summary": row.summary,
            "department": row.department}


# ------------------------------------------------------------------ single lookups

# The badge of a lookup whose declaration does not say what its result means (Form.badge).
VERDICT_BADGES = {"FOUND": Badge("已查到", "info"), "NOT_FOUND": Badge("未查到", "attention"),
                  "MATCH": Badge("一致", "good"), "MISMATCH": Badge("不一致", "blocked"),
                  "PENDING": Badge("部门尚未答复", "attention")}


def lookup_badge(query: Any, answer: m.Answer) -> Badge:
    """The verdict badge of one lookup: the operation's declared badge (Form.badge), else its verdict's."""
    if answer.result is None:
        return Badge("来源不可用", "unavailable")
    try:
        op = registry().operation_of_result(answer.result)
    except LookupError:
        return Badge("须人工核验", "attention")
    if op.form.badge is not None:
        return op.form.badge(query, answer.result)
    return VERDICT_BADGES.get(op.verdict(answer.result), Badge("须人工核验", "attention"))


def lookup_badges(query: Any, answer: m.Answer) -> list[Badge]:
    p = answer.provenance
    badges = [lookup_badge(query, answer)]
    if p.stale:
        badges.append(Badge(f"来源不可用，显示过期缓存（{cache_text(p.cache_age_seconds)[3:]}）", "stale"))
    elif p.from_cache:
        badges.append(Badge(cache_text(p.cache_age_seconds), "info"))
    return badges


def lookup_warnings(answer: m.Answer) -> list[str]:
    """The answer's notes in Chinese; a pending or missing answer says what to do next."""
    out = [w if not _has_english(w) else "部门答复附有一条提示（非中文），请向系统管理员了解并人工核对。"
           for w in answer.warnings]
    department = department_name(answer.provenance.department)
    if answer.result is None:
        out.append(unavailable_step(department))
    elif registry().operation_of_result(answer.result).verdict(answer.result) == "PENDING":
        out.append(f"{department}尚未返回查询结果：请稍后用相同条件再次查询（查询会继续进行，不重复提交）。")
    return out


# ------------------------------------------------------------------ masking in free text

_PERSON_ROLES = ("被继承人", "继承人", "原告", "被告", "第三人", "上诉人", "被上诉人", "申请人", "被申请人",
                 "申请执行人", "被执行人", "受遗赠人", "遗赠人", "配偶", "之子", "之女", "之妻", "之夫")
_NAMED = re.compile("(" + "|".join(sorted(_PERSON_ROLES, key=len, reverse=True)) + r")([\u4e00-\u9fff·]{2,3})")
_ORGANISATION = ("公司", "银行", "法院", "中心", "集团", "委员会", "合作社", "企业", "政府", "事务所", "协会")
_NOT_IN_A_NAME = set("于与和及的在已对向等诉名继共之、，。；：")  # a word after the name (谢佳名下, 谢佳于)


def mask_names_in_text(text: str) -> str:
    """Mask a person's name that follows a role word (被继承人谢佳 -> 被继承人谢*), for names the
    result does not list as parties; an organisation after the role word stays as it is."""

    def replace(match: re.Match) -> str:
        role, name = match.groups()
        if name[0] in _NOT_IN_A_NAME:
            return match.group(0)
        following = re.split(r"[与和及、，。；：（）]", text[match.start(2):match.start(2) + 14])[0]
        if any(marker in following for marker in _ORGANISATION):
            return match.group(0)
        if len(name) == 3 and name[2] in _NOT_IN_A_NAME:
            return role + mask_name(name[:2]) + name[2]
        return role + mask_name(name)

    return _NAMED.sub(replace, text)


# ------------------------------------------------------------------ errors

# When a violation's text is not Chinese (an older validator): a hint per field, never raw English.
FIELD_HINTS = {
    "id_number": "应为 18 位公民身份号码（末位可为 X），请逐位核对",
    "spouse_id_number": "应为 18 位公民身份号码（末位可为 X），请逐位核对",
    "credit_code": "应为 18 位统一社会信用代码，请逐位核对",
    "license_code": "应为 15 位金融许可证机构编码，请核对",
    "case_number": "应为如（2023）京0105民初1234号的案号，请核对",
    "judgment_case_number": "应为如（2023）京0105民初1234号的案号，请核对",
    "name": "请填写证件上的姓名",
    "role": "该登记类型没有这个角色，请在列表中选择",
    "registration_type": "请在列表中选择登记类型",
}
_PARTY_FIELD = re.compile(r"^parties\[(\d+)\](?:\.(\w+))?$")


def _has_english(text: str) -> bool:
    return re.search(r"[A-Za-z]{3,}", text) is not None


def violation_text(v: e.FieldViolation, party_rows: list[int] | None = None) -> str:
    """One validation error in Chinese. The validators give a machine code and its Chinese text
    (errors.MESSAGES); a text that is not Chinese is replaced by a hint for the field. A party
    is named by its row on the form ("第 3 行当事人的身份证号"), since empty rows are skipped."""
    base = v.field if v.field.startswith("context.") else v.field.rpartition(".")[2]
    party = _PARTY_FIELD.match(v.field)
    if party and party_rows is not None:
        index, sub = int(party.group(1)), party.group(2) or ""
        row = party_rows[index] if index < len(party_rows) else index + 1
        label = f"第 {row} 行当事人" + (f"的{e.FIELD_LABELS.get(sub, '信息')}" if sub else "")
        base = sub or "parties"
    else:
        label = v.label or e.field_label(v.field)
        label = label if not _has_english(label) else "填写内容"  # a field the labels do not know yet
    text = v.description if v.description and not _has_english(v.description) else ""
    if not text:
        text = "请至少填写其中一项" if "|" in v.field else FIELD_HINTS.get(base, "填写有误，请核对后重新提交")
    return f"{label}：{text}"


QUERY_ERRORS = {"PERMISSION_DENIED": "您无权进行此项查询。", "AUDIT_UNAVAILABLE": "审计记录暂不可用，查询未执行，请稍后重试。",
                "RESOURCE_EXHAUSTED": "查询过于频繁，请稍后重试。", "DEADLINE_EXCEEDED": "部门答复超时，请稍后重试。",
                "SOURCE_UNAVAILABLE": "部门暂未答复，请稍后重试或按人工核验流程核实。"}


def query_error_text(exc: e.QueryError) -> str:
    return QUERY_ERRORS.get(exc.reason, "查询未完成，请稍后重试。")


# ------------------------------------------------------------------ input

_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
CODE_FIELDS = ("id_number", "spouse_id_number", "credit_code", "license_code", "division_code")


def normalise_code(value: str) -> str:
    """An identifier as typed or pasted: full-width letters and digits to ASCII (IME input),
    surrounding spaces dropped, letters upper-case (522x -> 522X)."""
    return value.translate(_FULL_WIDTH).strip().upper()


def normalise_form(fields: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in fields.items():
        value = value.translate({0x3000: 0x20}).strip()
        if key.endswith(CODE_FIELDS):  # id_number, p3_id_number, credit_code, ...
            value = normalise_code(value)
        out[key] = value
    return out
