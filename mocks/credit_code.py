"""Mock 市场监管总局 企业基本信息 (INTERFACES.md §6) over the world's organisations: the query
(`zw_samr_enterprise_query`, 企业基本信息查询) and the verify (`zw_samr_enterprise_check`, 3.9).

Both take `{"entname": 企业名称, "uniscid": 统一社会信用代码}`.
- Query answers a list of rows (what `data.cxjg` holds): `entname uniscid regno enttypeCn regcap
  regcapcurCn estdate apprdate regstateCn regorgCn opfrom opto name dom opscope sExtNodenum`;
  `regcap` a number of 万元, dates epoch milliseconds (the Asia/Shanghai midnight), `opto` null.
  By code: that company; by name: every company of the name; both: the company of the code if
  its name is the one given.
- Verify answers one object `ent_idx {entname, uniscid}`, `entchk_checkres_key`, `regstateCn`,
  `diff_list [{chk_key, in_val, out_val}]`, `_map_`: 05 when a key is missing, 01 when neither
  finds a company, 02 when the name alone finds several, 03 when code and name agree, 04 otherwise.
"""
from __future__ import annotations

import random
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Callable
from zoneinfo import ZoneInfo

from mocks.ministry import MinistryDepartment
from mocks.world import Organization, World, make_credit_code

STATUS_TEXT = {"存续": "存续（在营、开业、在册）", "吊销": "吊销，未注销", "注销": "注销"}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def epoch_ms(day: date) -> int:
    return int(datetime.combine(day, time(), SHANGHAI).timestamp() * 1000)


def record(org: Organization) -> dict:
    """One enterprise as the register writes it."""
    amount, _, currency = org.registered_capital.partition("万元")
    return {
        "entname": org.name, "uniscid": org.credit_code, "regno": org.credit_code[8:17] + "000000",
        "enttypeCn": org.org_type, "regcap": float(Decimal(amount)), "regcapcurCn": (currency or "人民币") + "元",
        "estdate": epoch_ms(org.established_on), "apprdate": epoch_ms(org.established_on),
        "regstateCn": STATUS_TEXT[org.status], "regorgCn": org.issuing_office,
        "opfrom": epoch_ms(org.established_on), "opto": None, "name": org.legal_representative.name,
        "dom": org.domicile, "opscope": org.scope, "sExtNodenum": org.division_code[:2] + "0000",
    }


class EnterpriseCheck(MinistryDepartment):
    """The verify service, served on the same port as the query."""

    name = "credit_code"
    path = "/samr/api/enterprise/check"
    request_type = "zw_samr_enterprise_check"

    def __init__(self, world: World, secrets: dict[str, str], register: "CreditCodeDepartment") -> None:
        self.register = register
        super().__init__(world, secrets)

    def answer(self, data: dict) -> dict:
        code, name = str(data.get("uniscid") or ""), str(data.get("entname") or "")
        reply: dict[str, Any] = {"ent_idx": {"entname": name, "uniscid": code}, "diff_list": [], "_map_": {}}
        if not code or not name:
            return reply | {"entchk_checkres_key": "05", "regstateCn": ""}
        org = self.register.by_code.get(code)
        if org is None:
            named = self.register.by_name.get(name, [])
            if not named:
                return reply | {"entchk_checkres_key": "01", "regstateCn": ""}
            if len(named) > 1:
                return reply | {"entchk_checkres_key": "02", "regstateCn": ""}
            org = named[0]
        diffs = [{"chk_key": key, "in_val": given, "out_val": held}
                 for key, given, held in (("uniscid", code, org.credit_code), ("entname", name, org.name))
                 if given != held]
        return reply | {"entchk_checkres_key": "04" if diffs else "03", "regstateCn": STATUS_TEXT[org.status],
                        "diff_list": diffs}


class CreditCodeDepartment(MinistryDepartment):
    name = "credit_code"
    path = "/samr/api/enterprise/query"
    request_type = "zw_samr_enterprise_query"

    def __init__(self, world: World, secrets: dict[str, str]) -> None:
        self.by_code = {o.credit_code: o for o in world.organizations}
        self.by_name: dict[str, list[Organization]] = {}
        for org in world.organizations:
            self.by_name.setdefault(org.name, []).append(org)
        self.check = EnterpriseCheck(world, secrets, self)
        super().__init__(world, secrets)

    def routes(self, app) -> None:
        super().routes(app)
        app.router.add_post(self.check.path, self.check.handle)

    def answers(self) -> dict[str, Callable[[Any], Any]]:
        return {"zw_samr_enterprise_query": self.answer, "zw_samr_enterprise_check": self.check.answer}

    def answer(self, data: dict) -> list:
        code, name = str(data.get("uniscid") or ""), str(data.get("entname") or "")
        if code:
            found = [o for o in [self.by_code.get(code)] if o is not None and (not name or o.name == name)]
        else:
            found = self.by_name.get(name, []) if name else []
        return [record(o) for o in found]


def samples(world: World) -> dict:
    """Organisations with known outcomes (for samples.json)."""
    companies = [o for o in world.organizations if o.name.endswith("有限公司") and o.issuing_office != "国家市场监督管理总局"]

    def first(status: str) -> Organization:
        return next(o for o in companies if o.status == status)

    def entry(label: str, org: Organization) -> dict:
        return {"label": label, "credit_code": org.credit_code, "name": org.name, "status": org.status}

    taken = {o.credit_code for o in world.organizations}
    rng = random.Random(world.seed * 11 + 2)
    unknown = make_credit_code(rng, "9", "1", "110105")
    while unknown in taken:
        unknown = make_credit_code(rng, "9", "1", "110105")
    # same first 17 characters, another last one: the check fails, as on some 2015 pilot codes
    pilot = unknown[:17] + next(c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != unknown[17])
    bank = next(o for o in world.organizations if o.name == world.licenses[0].organization.name)
    return {
        "active": [entry("active company (存续)", first("存续")), entry("licensed bank", bank)],
        "revoked": [entry("company with revoked business licence (吊销)", first("吊销"))],
        "cancelled": [entry("deregistered company (注销)", first("注销"))],
        "not_found": [{"label": "valid credit code nobody holds", "credit_code": unknown}],
        "pilot_code": [{"label": "2015 pilot-style code whose check character fails (warning, still asked)",
                        "credit_code": pilot}],
    }
