"""Mock 民政部 殡葬服务 火化信息 (3.16 zw_civil_crem, INTERFACES.md §12.4) over the world's deaths:
everyone who died was cremated three days later. Request `{id_card, name}`; reply rows
`id_card name sex address death_time cremation_time RN` under `cxjg`, times `yyyy-MM-dd HH:mm:ss`
(the Hefei sample), names in upper case as the national platform spells them."""
from __future__ import annotations

from datetime import timedelta

from mocks.ministry import MinistryDepartment
from mocks.world import Death, World


def row(death: Death, n: int) -> dict:
    p = death.person
    return {"ID_CARD": p.id_number, "NAME": p.name, "SEX": int(p.sex), "ADDRESS": "北京市朝阳区",
            "DEATH_TIME": f"{death.died_on.isoformat()} 00:00:00",
            "CREMATION_TIME": f"{(death.died_on + timedelta(days=3)).isoformat()} 09:30:00", "RN": n}


class CremationDepartment(MinistryDepartment):
    name = "cremation"
    path = "/mca/api/crem/query"
    request_type = "zw_civil_crem"

    def answers(self) -> dict:
        return {"zw_civil_crem": self.answer}

    def answer(self, data: dict) -> dict:
        death = self.world.deaths.get(str(data.get("id_card", "")).upper())
        if death is None or death.person.name != data.get("name"):
            return {"cxjg": []}
        return {"cxjg": [row(death, 1)]}


def samples(world: World) -> dict:
    death = next(iter(world.deaths.values()))
    return {"cremated": [{"label": "deceased and cremated", "id_number": death.person.id_number,
                          "name": death.person.name, "died_on": death.died_on.isoformat()}]}
