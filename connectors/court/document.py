"""A court document's HTML as plain text, its operative part (判决如下 ...), and what the reply
leaves to the document: court, document type, date, the parties' roles, the cause."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser

from connectors.base import BadUpstream

_BLOCK = {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"}
_SKIP = {"script", "style", "head", "title", "noscript", "template"}
# Where the operative part starts: 判决如下 / 裁定如下 / 决定如下, or a mediation agreement.
_OPERATIVE = re.compile(r"(?:判决|裁定|决定)如下|达成(?:如下)?(?:调解)?协议")
# Where it ends: the appeal notice, the bench, the clerk or the date line.
_AFTER = re.compile(
    r"^(?:如不服|审\s*判\s*长|审\s*判\s*员|代理审判员|人民陪审员|执\s*行\s*员|法官助理|书\s*记\s*员|[〇零一二三四五六七八九]{4}年)"
)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text, one line per block element, whitespace inside a line collapsed."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def operative_part(text: str) -> str:
    """From the 判决如下 / 裁定如下 marker up to the appeal notice or the bench."""
    found = _OPERATIVE.search(text)
    if found is None:
        raise BadUpstream("court: document has no operative part (判决如下/裁定如下)")
    kept: list[str] = []
    for line in text[found.start():].split("\n"):
        if kept and _AFTER.match(line):
            break
        kept.append(line)
    return "\n".join(kept)


# --------------------------------------------------------------- what the reply leaves to the document
# The GF99 reply carries only the case number, the parties' names and ID numbers, and the documents
# (INTERFACES.md §8.2); the court, the document type, the date and each party's role stand in the
# document itself, laid out as every court prints it:
#     北京市朝阳区人民法院 / 民 事 判 决 书 / （2023）京0105民初1234号 / 原告：张三，男，… / 被告：… /
#     … 判决如下： … / 审判员 … / 二〇二三年五月六日 / 书记员 …

DOCUMENT_TYPES = ("判决书", "裁定书", "调解书", "决定书")
_TITLE = re.compile(r"^[\u4e00-\u9fff]{0,10}书$")
_CN_DATE = re.compile(r"^([〇○零一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月([一二三四五六七八九十]{1,3})日$")
_CN_DIGIT = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"○": 0, "零": 0}
_CASE_LINE = re.compile(r"^[（(]\d{4}[）)]\S{2,30}号$")
_ROLE_NOTE = re.compile(r"[（(][^）)]*[）)]")


@dataclass(frozen=True)
class Reading:
    court: str
    document_type: str
    decided_on: str
    cause: str
    roles: dict[str, str]  # party name -> role as the document introduces it
    case_numbers: tuple[str, ...]  # lines that are a whole case number (the document's own)
    operative_text: str


def read(markup: str, names: list[str]) -> Reading:
    """The court, type, date, parties' roles, cause and operative part of one document; BadUpstream
    for a document without them (never a guess: the check is then left to a person)."""
    text = html_to_text(markup)
    lines = [re.sub(r"\s+", "", line) for line in text.split("\n")]
    court = next((line for line in lines[:8] if line.endswith("法院") and len(line) <= 30), None)
    if court is None:
        raise BadUpstream("court: document names no court")
    title = next((line for line in lines[:12] if _TITLE.match(line)), None)
    if title is None:
        raise BadUpstream("court: document has no title (…判决书/裁定书)")
    dates = [m for m in map(_CN_DATE.match, lines) if m]
    if not dates:
        raise BadUpstream("court: document has no date line")
    roles = {}
    for name in names:
        role = _role(lines, name)
        if role is None:
            raise BadUpstream("court: a party of the case is not introduced in its document")
        roles[name] = role
    return Reading(
        court=court, document_type=next((t for t in DOCUMENT_TYPES if title.endswith(t)), title),
        decided_on=_iso(dates[-1]), cause=_cause(text, names), roles=roles,
        case_numbers=tuple(line for line in lines[:12] if _CASE_LINE.match(line)),
        operative_text=operative_part(text),
    )


def _role(lines: list[str], name: str) -> str | None:
    """原告（反诉被告）：张三，… -> 原告."""
    compact = re.escape(re.sub(r"\s+", "", name))
    pattern = re.compile(r"^([\u4e00-\u9fff（）()]{1,16})[：:]" + compact + r"(?:[，,。；（(]|$)")
    for line in lines:
        found = pattern.match(line)
        if found:
            return _ROLE_NOTE.sub("", found.group(1)) or None
    return None


def _cause(text: str, names: list[str]) -> str:
    """原告甲与被告乙房屋买卖合同纠纷一案 -> 房屋买卖合同纠纷; "" when the document does not say it so."""
    found = re.search(r"([^，。；：\n]{2,120}?)一案", text)
    if found is None:
        return ""
    before = found.group(1)
    ends = [before.rfind(n) + len(n) for n in names if n and n in before]
    cause = before[max(ends):] if ends else ""
    return cause if 2 <= len(cause) <= 30 and re.fullmatch(r"[\u4e00-\u9fff、]+", cause) else ""


def _iso(found: re.Match) -> str:
    year = "".join(str(_CN_DIGIT[c]) for c in found.group(1))
    try:
        return date(int(year), _cn_number(found.group(2)), _cn_number(found.group(3))).isoformat()
    except ValueError:
        raise BadUpstream("court: document date is not a date") from None


def _cn_number(text: str) -> int:
    """一 .. 三十一 as printed in dates."""
    if "十" not in text:
        return _CN_DIGIT.get(text, 0) if len(text) == 1 else 0
    tens, _, ones = text.partition("十")
    return (_CN_DIGIT[tens] if tens else 1) * 10 + (_CN_DIGIT[ones] if ones else 0)
