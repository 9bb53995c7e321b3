"""卫健委 死亡医学证明查询 (INTERFACES.md §11): the MDEML request, keyed `GMSFZH`.

    <MDEML templateVersion="1.0"><requestinfo><requestDate>yyyy-MM-dd HH:mm:ss</requestDate>
    <requestOrgCode/><requestOrgName/></requestinfo><body><data><GMSFZH/><XM/></data></body></MDEML>

travels as text over the national platform (SOAP `getSwyxzmInfo`, Base64 `xmlInput`); over a
provincial platform the same service (`zw_nhcprc_death-cert`) takes `{xm, sfzh}` (§11.2); without
a relay it goes as the Hefei OpenAPI content `{api_method: wjwswyxzmcx, xml}` (§12.9). Options:
`org_code` (requestOrgCode, 9 characters) and `dept_name` (requestOrgName).
"""
from __future__ import annotations

from datetime import datetime
from xml.etree import ElementTree as ET

from connectors.base import CallInfo
from connectors.base.ministry import MinistryConnector
from connectors.base.wire import SHANGHAI
from connectors.death.reply import DEPT, parse
from connectors.relay.contract import Service
from connectors.relay.provincial import ProvincialRelay
from querynode.domain.model import DeathQuery, DeathResult

API_METHOD = "wjwswyxzmcx"


def mdeml_request(query: DeathQuery, org_code: str, org_name: str, now: datetime | None = None) -> str:
    root = ET.Element("MDEML", templateVersion="1.0")
    info = ET.SubElement(root, "requestinfo")
    for tag, text in (("requestDate", f"{now or datetime.now(SHANGHAI):%Y-%m-%d %H:%M:%S}"),
                      ("requestOrgCode", org_code), ("requestOrgName", org_name)):
        ET.SubElement(info, tag).text = text
    data = ET.SubElement(ET.SubElement(root, "body"), "data")
    ET.SubElement(data, "GMSFZH").text = query.id_number
    ET.SubElement(data, "XM").text = query.name
    return ET.tostring(root, encoding="unicode")


class DeathConnector(MinistryConnector):
    department = DEPT
    path = "/nhc/api/death/query"
    service = Service.DEATH_CERTIFICATE
    request_type = API_METHOD

    def request(self, query: DeathQuery) -> dict | str:
        if isinstance(self.relay, ProvincialRelay):
            return {"xm": query.name, "sfzh": query.id_number}
        xml = mdeml_request(query, str(self.config.options.get("org_code", "000000000")),
                            str(self.config.options.get("dept_name", "不动产登记中心")))
        return xml if self.relay is not None else {"api_method": API_METHOD, "xml": xml}

    async def lookup(self, query: DeathQuery, call: CallInfo) -> DeathResult:
        return parse(await self.ask(self.request(query), call), query)
