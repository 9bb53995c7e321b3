"""Mock 中编办 事业单位 / 机关群团 register (ZB01, INTERFACES.md §12.3) over the world's bodies
whose credit code starts with 1. Request `{name, tyshxydm}`; reply a bare JSON array of records
`qlbs tyshxydm onemc ... fzr zt zs jbdw jfly kbzj djgljg zzhywfw yxqx_s yxqx_z ywlx`."""
from __future__ import annotations

from mocks.ministry import MinistryDepartment
from mocks.world import Organization, World

ZT = {"存续": "0", "吊销": "2", "注销": "9"}


def record(org: Organization) -> dict:
    return {"qlbs": "事业单位", "tyshxydm": org.credit_code, "onemc": org.name, "twomc": "", "threemc": "",
            "qtmc": "", "sjrq": "2026-01-01", "fzr": org.legal_representative.name, "zt": ZT[org.status],
            "zs": org.domicile, "jbdw": org.issuing_office.replace("机构编制委员会办公室", "教育委员会"),
            "jfly": "财政补助", "kbzj": org.registered_capital.replace("人民币", ""),
            "djgljg": org.issuing_office, "zzhywfw": org.scope,
            "yxqx_s": org.established_on.isoformat(), "yxqx_z": "2030-12-31", "ywlx": "0"}


def bodies(world: World) -> list[Organization]:
    return [o for o in world.organizations if o.credit_code[0] == "1"]


class OrganDepartment(MinistryDepartment):
    name = "organ"
    path = "/zbb/api/organ/query"
    request_type = "ZB01"

    def answers(self) -> dict:
        return {"scopsr_organ_query": self.answer}

    def answer(self, data: dict) -> list:
        code, name = data.get("tyshxydm") or "", data.get("name") or ""
        return [record(o) for o in bodies(self.world)
                if (code and o.credit_code == code) or (not code and name and o.name == name)]


def samples(world: World) -> dict:
    org = bodies(world)[0]
    return {"active": [{"label": "事业单位 (code starting 1)", "credit_code": org.credit_code, "name": org.name}]}
