"""A court document's HTML as plain text, and its operative part (判决如下 ...)."""
from __future__ import annotations

import re
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
