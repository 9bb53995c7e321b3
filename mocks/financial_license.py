"""Mock 银保监会 金融许可证查询 (YB01 / `cbirc_financial_query`, INTERFACES.md §7) over the world's
licences.

Request `{"typeId": "01", "certCode": "<机构编码>"}` (typeId 01 银行, 02 保险; blank means 01).
Reply: a single object `id certFlowNo certCode fullName simpleName englishName address setDate
printDate typeId organName scope`, dates `yyyy-MM-dd`; no status field. A licence taken back
(收回) keeps its record without a print date; a code nobody holds answers `{}`.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

from mocks.ministry import MinistryDepartment
from mocks.world import License, World


def record(lic: License) -> dict:
    """One licence as the service writes it."""
    return {
        "id": hashlib.md5(lic.license_code.encode()).hexdigest()[:16], "certFlowNo": lic.serial_number,
        "certCode": lic.license_code, "fullName": lic.organization.name, "simpleName": lic.short_name,
        "englishName": lic.english_name, "address": lic.address, "setDate": lic.approved_on.isoformat(),
        "printDate": lic.issued_on.isoformat() if lic.valid else "", "typeId": "01",
        "organName": lic.issuing_office, "scope": lic.scope,
    }


class FinancialLicenseDepartment(MinistryDepartment):
    name = "financial_license"
    path = "/jrxkz/api/licence/query"
    request_type = "YB01"

    def __init__(self, world: World, secrets: dict[str, str]) -> None:
        self.by_code = {lic.license_code: lic for lic in world.licenses}
        super().__init__(world, secrets)

    def answers(self) -> dict[str, Callable[[Any], Any]]:
        return {"cbirc_financial_query": self.answer}

    def answer(self, data: dict) -> dict:
        lic = self.by_code.get(str(data.get("certCode") or ""))
        if lic is None or (data.get("typeId") or "01") != "01":  # every licence of the world is a banking one
            return {}
        return record(lic)


def samples(world: World) -> dict:
    """Licences with known outcomes (for samples.json). Every licensed institution also has a
    credit-code record; the unlicensed lender has a credit code and no licence."""
    bank = next(lic for lic in world.licenses if lic.valid and lic.license_code.startswith("B"))
    withdrawn = next(lic for lic in world.licenses if not lic.valid)
    lender = next(o for o in world.organizations if o.name == "北京鑫汇通小额贷款有限公司")
    taken = {lic.license_code for lic in world.licenses}
    unknown = next(f"B{n:04d}H111000001" for n in range(9999, 0, -1) if f"B{n:04d}H111000001" not in taken)

    def entry(label: str, lic: License) -> dict:
        return {"label": label, "license_code": lic.license_code, "institution_name": lic.organization.name,
                "credit_code": lic.organization.credit_code, "valid": lic.valid}

    return {
        "licensed_bank": [entry("commercial bank with a valid licence", bank)],
        "withdrawn": [entry("withdrawn licence of a former trust company", withdrawn)],
        "unlicensed_lender": [{"label": "lender with a credit code and no licence", "institution_name": lender.name,
                               "credit_code": lender.credit_code}],
        "not_found": [{"label": "well-formed licence code nobody holds", "license_code": unknown}],
    }
