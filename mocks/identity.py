"""Mock 公安部 人口库 身份核查 (GA02, INTERFACES.md §5), written from the interface text, not from
the connectors.

Request: `{bus_sre_idcard, bus_sre_deptcode, bus_sre_deptaddr, bus_sre_appname,
bus_sre_businesstypecode, bus_sre_businesstypename, MessageSequence (18 digits),
RequestParam: {Conditions: [{CheckCondition: {xm}, QueryCondition}, ...]}}`, several persons per
call; `QueryCondition` is the string `gmsfhm='<id>'` or the object `{"gmsfhm": "<id>"}` (both
spellings exist, §5.1). Reply: `{ResourceInfos: [{ResourceName, DataItems, ReturnInfos: [...]}]}`,
one ReturnInfos item per condition with `CheckCode` 000 核查一致 / 999 无匹配记录 / 001 姓名不一致,
`CheckCodeDesc` and `CheckSourceInfos: {xm}` (the name that was checked, §5.2).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from mocks.ministry import MinistryDepartment
from mocks.population import unknown_id
from mocks.world import World

_SEQUENCE = re.compile(r"^\d{18}$")
_QUERY = re.compile(r"^\s*gmsfhm\s*=\s*'([0-9A-Za-z]{1,32})'\s*$")
DESCRIPTIONS = {"000": "核查一致", "999": "无匹配记录", "001": "姓名不一致"}


def _refuse(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=reason)


def _number(condition: Any) -> str:
    """The ID number a condition asks about, in either documented spelling."""
    query = condition.get("QueryCondition")
    if isinstance(query, dict) and isinstance(query.get("gmsfhm"), str):
        return query["gmsfhm"]
    match = _QUERY.match(query) if isinstance(query, str) else None
    if match is None:
        raise _refuse("QueryCondition 格式错误")
    return match.group(1)


class IdentityDepartment(MinistryDepartment):
    name = "identity"
    path = "/mps/api/gasfhc"
    request_type = "GA02"

    def __init__(self, world: World, secrets: dict[str, str]) -> None:
        self.people = {p.id_number: p for p in world.persons}
        super().__init__(world, secrets)

    def answers(self) -> dict[str, Callable[[Any], Any]]:
        return {"police_identity_check": self.answer}

    def answer(self, data: Any) -> dict:
        if isinstance(data, list) and len(data) == 1:  # the provincial platform's cxywcs array
            data = data[0]
        if not isinstance(data, dict) or not _SEQUENCE.match(str(data.get("MessageSequence", ""))):
            raise _refuse("MessageSequence 格式错误")
        conditions = (data.get("RequestParam") or {}).get("Conditions") if isinstance(
            data.get("RequestParam"), dict) else None
        if not isinstance(conditions, list) or not conditions:
            raise _refuse("RequestParam.Conditions 为空")
        return {"ResourceInfos": [{"ResourceName": "", "DataItems": [],
                                   "ReturnInfos": [self.check(c) for c in conditions]}]}

    def check(self, condition: Any) -> dict:
        if not isinstance(condition, dict) or not isinstance(condition.get("CheckCondition"), dict):
            raise _refuse("CheckCondition 格式错误")
        name = condition["CheckCondition"].get("xm")
        if not isinstance(name, str):
            raise _refuse("CheckCondition.xm 格式错误")
        person = self.people.get(_number(condition).upper())
        code = "999" if person is None else "000" if person.name == name else "001"
        return {"CheckCode": code, "CheckCodeDesc": DESCRIPTIONS[code], "CheckSourceInfos": {"xm": name},
                "DataInfo": []}


COMPOUND = {"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "长孙", "宇文", "司徒", "端木"}


def samples(world: World) -> dict:
    """Persons with known identity outcomes (for samples.json)."""
    people = world.persons
    han = [p for p in people if p.kind == "resident" and p.ethnicity == "01" and p.id_number not in world.deaths]
    compound = next(p for p in han if p.name[:2] in COMPOUND)
    minority = next(p for p in people if "·" in p.name and p.kind == "resident")
    permit = next(p for p in people if p.kind == "hmt")
    foreigner = next(p for p in people if p.kind == "foreigner")
    mismatch = han[1]
    wrong_name = ("张" if mismatch.name[0] != "张" else "李") + mismatch.name[1:]
    return {
        "match": [
            {"label": "plain match", "name": han[0].name, "id_number": han[0].id_number},
            {"label": "compound surname", "name": compound.name, "id_number": compound.id_number},
            {"label": "minority name with ·", "name": minority.name, "id_number": minority.id_number},
            {"label": "Hong Kong/Macao/Taiwan residence permit", "name": permit.name, "id_number": permit.id_number},
            {"label": "foreigner's permanent residence card", "name": foreigner.name, "id_number": foreigner.id_number},
        ],
        "name_mismatch": [{"label": "wrong surname", "name": wrong_name, "id_number": mismatch.id_number}],
        "not_found": [{"label": "valid number nobody holds", "name": "王小明", "id_number": unknown_id(people, world.seed)}],
    }
