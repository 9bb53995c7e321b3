"""Mock 国家卫健委 死亡医学证明查询, written from INTERFACES.md §11 (not from the connector).

The request comes as MDEML XML keyed `GMSFZH` (national platform SOAP, or the Hefei OpenAPI
content `{api_method, xml}` without a relay), or as the provincial `{xm, sfzh}` array. Records are
found by the ID number only: a record under another name is returned as it is, for the asker to
see the names differ. The MDEML reply keys the number `GMSFHM` and lists every record as a
`<data>`; the provincial reply is the same records as a JSON array (the platform puts it under
`cxjg`). Record fields `GMSFHM XM XBDM MZDM SWYY SWRQ`, SWRQ `yyyy-MM-dd`.

Quirks a test can switch on: `trailing_space` writes the resultinfo element as gtmap's alias
spells it (`<resultinfo >`), `html_escaped` sends the MDEML reply HTML-escaped (§12.7, §13),
`duplicate` repeats each record (a list of several `<data>`).
"""
from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

from defusedxml.ElementTree import fromstring

from mocks.ministry import MinistryDepartment
from mocks.world import Death, World

CAUSES = {"I21.9": "急性心肌梗死", "I63.9": "脑梗死", "C34.9": "肺恶性肿瘤", "J44.9": "慢性阻塞性肺病",
          "J18.9": "肺炎", "C22.0": "肝细胞癌", "E14.9": "糖尿病", "V89.2": "交通事故", "K74.6": "肝硬化",
          "I50.9": "心力衰竭"}


def record(death: Death) -> dict[str, str]:
    p = death.person
    return {"GMSFHM": p.id_number, "XM": p.name, "XBDM": p.sex, "MZDM": p.ethnicity,
            "SWYY": CAUSES.get(death.cause_code, "其他"), "SWRQ": death.died_on.isoformat()}


class DeathDepartment(MinistryDepartment):
    name = "death"
    path = "/nhc/api/death/query"
    request_type = "wjwswyxzmcx"

    def __init__(self, world: World, secrets: dict[str, str]) -> None:
        super().__init__(world, secrets)
        self.trailing_space = False
        self.html_escaped = False
        self.duplicate = False

    def answers(self) -> dict[str, Callable[[Any], Any]]:
        return {"zw_nhcprc_death-cert": self.answer}

    def records(self, id_number: str) -> list[dict[str, str]]:
        death = self.world.deaths.get(id_number.strip().upper())
        return [record(death)] * (2 if self.duplicate else 1) if death else []

    def answer(self, data: Any) -> Any:
        if isinstance(data, dict) and "xml" in data:
            data = data["xml"]
        if isinstance(data, str):
            return self.mdeml(data)
        asked = data if isinstance(data, list) else [data]
        return [r for item in asked if isinstance(item, dict) for r in self.records(str(item.get("sfzh", "")))]

    def mdeml(self, xml: str) -> str:
        reply = ET.Element("MDEML", templateVersion="1.0")
        info = ET.SubElement(reply, "resultinfo")
        body = ET.SubElement(reply, "body")
        try:
            asked = fromstring(xml).findall("body/data")
        except Exception:  # noqa: BLE001 - a request it cannot read gets the service's error answer
            asked = None
        ET.SubElement(info, "success").text = "0" if asked is not None else "1"
        ET.SubElement(info, "message").text = "成功" if asked is not None else "请求报文格式错误"
        for item in asked or []:
            for found in self.records(item.findtext("GMSFZH") or ""):
                data = ET.SubElement(body, "data")
                for key, value in found.items():
                    ET.SubElement(data, key).text = value
        text = ET.tostring(reply, encoding="unicode")
        if self.trailing_space:
            text = text.replace("<resultinfo>", "<resultinfo >")
        return html.escape(text, quote=False) if self.html_escaped else text


def samples(world: World) -> dict:
    """Deceased and living persons with known death outcomes (for samples.json)."""
    def entry(label: str, person, **more) -> dict:
        return {"label": label, "name": person.name, "id_number": person.id_number, **more}

    deaths = sorted(world.deaths.values(), key=lambda d: d.person.id_number)
    out = {"deceased": [entry("death medical certificate on record", d.person, died_on=d.died_on.isoformat())
                        for d in deaths[:2]]}
    living = next(p for p in world.persons if p.id_number not in world.deaths and p.kind == "resident")
    out["living"] = [entry("no death certificate", living)]
    return out
