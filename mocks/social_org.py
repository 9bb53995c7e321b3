"""Mock 民政部 社会组织 register (MZ02, INTERFACES.md §12.1) over the world's bodies whose credit
code starts with 5. Request `{tyshxydm, name, search_type}`; reply `{count, rows[]}` with
`org_name usc_code legal_name registered_capital business_scope activity_range domicile_addres
valid_from valid_to issue_certificate_dept registration_date manager_dept ifcharity`."""
from __future__ import annotations

from mocks.ministry import MinistryDepartment
from mocks.world import Organization, World


def record(org: Organization) -> dict:
    return {"org_name": org.name, "usc_code": org.credit_code, "legal_name": org.legal_representative.name,
            "registered_capital": org.registered_capital.replace("人民币", ""), "business_scope": org.scope,
            "activity_range": "北京市", "domicile_addres": org.domicile,
            "valid_from": org.established_on.isoformat(), "valid_to": "2031-08-31",
            "issue_certificate_dept": org.issuing_office, "registration_date": org.established_on.isoformat(),
            "manager_dept": "北京市朝阳区民政局", "ifcharity": "1" if "慈善" in org.name else "2"}


def bodies(world: World) -> list[Organization]:
    return [o for o in world.organizations if o.credit_code[0] == "5"]


class SocialOrgDepartment(MinistryDepartment):
    name = "social_org"
    path = "/mca/api/shzz/query"
    request_type = "MZ02"

    def answers(self) -> dict:
        return {"civil_social_query": self.answer}

    def answer(self, data: dict) -> dict:
        code, name = data.get("tyshxydm") or "", data.get("name") or ""
        rows = [record(o) for o in bodies(self.world)
                if (code and o.credit_code == code) or (not code and name and o.name == name)]
        return {"count": len(rows), "rows": rows}


def samples(world: World) -> dict:
    org = bodies(world)[0]
    return {"active": [{"label": "社会组织 (code starting 5)", "credit_code": org.credit_code, "name": org.name}]}
