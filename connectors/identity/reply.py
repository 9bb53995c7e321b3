"""The GA02 reply (INTERFACES.md §5.2) -> one verdict, or one typed error, per person asked.

    {"ResourceInfos": [{"ResourceName": "", "DataItems": [],
        "ReturnInfos": [{"CheckCode": "000", "CheckCodeDesc": "核查一致",
                         "CheckSourceInfos": {"xm": "王五"}, "DataInfo": []}, ...]}]}

Field names arrive in lower case (`MinistryConnector.ask` folds them: relays differ, §13). The
items of `ResourceInfos[0].ReturnInfos` (the list gtmap reads) are matched back to the persons by
`CheckSourceInfos.xm`, the way the documented client does it, not by position; an item without a
name is taken by position only when one person was asked. CheckCode `000` 核查一致 -> MATCH,
`999` 无匹配记录 -> NOT_FOUND, `001`-`998` 核查项不一致 -> MISMATCH of the name (the one item we send
in CheckCondition). Any other code, a person with no item or with two, is BadUpstream for that
person (SOURCE_UNAVAILABLE, 须人工核验); a reply that is not the protocol, or that names a person
who was not asked, is BadUpstream for all of them.
"""
from __future__ import annotations

from collections.abc import Sequence

from connectors.base import BadUpstream
from querynode.domain.model import IdentityItem, IdentityResult, IdentityVerdict

DEPT = "identity"
Outcome = IdentityResult | BadUpstream


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def verdict(code: object) -> Outcome:
    """One CheckCode (trailing spaces tolerated, §13); an undocumented one is never a verdict."""
    code = code.strip() if isinstance(code, str) else None
    if code is None or len(code) != 3 or not code.isascii() or not code.isdigit():
        return bad("unknown check code")
    if code == "000":
        return IdentityResult(IdentityVerdict.MATCH)
    if code == "999":
        return IdentityResult(IdentityVerdict.NOT_FOUND)
    return IdentityResult(IdentityVerdict.MISMATCH, (IdentityItem.NAME,))


def parse(data: object, names: Sequence[str]) -> list[Outcome]:
    """The outcome for each of `names` (the persons asked, in request order, no name twice)."""
    resources = data.get("resourceinfos") if isinstance(data, dict) else None
    if not isinstance(resources, list) or not resources or not isinstance(resources[0], dict):
        raise bad("reply has no ResourceInfos")
    items = resources[0].get("returninfos")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise bad("reply has no ReturnInfos list")
    asked = {name.strip(): i for i, name in enumerate(names)}
    found: list[list[dict]] = [[] for _ in names]
    unnamed = []
    for item in items:
        source = item.get("checksourceinfos")
        name = source.get("xm") if isinstance(source, dict) else None
        if not isinstance(name, str):
            unnamed.append(item)
        elif name.strip() in asked:
            found[asked[name.strip()]].append(item)
        else:
            raise bad("reply answers a person who was not asked")
    if unnamed and len(names) == 1 and len(items) == 1:
        found[0] = unnamed
    outcomes: list[Outcome] = []
    for matches in found:
        if not matches:
            outcomes.append(bad("reply has no answer for this person"))
        elif len(matches) > 1:
            outcomes.append(bad("reply answers one person twice"))
        else:
            outcomes.append(verdict(matches[0].get("checkcode")))
    return outcomes
