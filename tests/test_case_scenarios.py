"""Named case scenarios (registration type x situation) over gRPC against all seven mock
departments serving one world: each asserts the case status and the exact finding codes.
The rules they follow are docs/case-rules.md. Mocks and node start once for the module."""
from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from datetime import date

import aiohttp
import grpc
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mocks.court_cases import generate as court_cases
from mocks.departments import build_departments
from mocks.world import age_on
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import APP_ID, ctx, make_settings, start_node

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLEAR, ATTENTION, INCOMPLETE = "CLEAR", "NEEDS_ATTENTION", "INCOMPLETE"
TODAY = date.today()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def departments(world, dept_secret):
    started = {}
    for offset, dept in build_departments({APP_ID: dept_secret}, world=world):
        await dept.start()
        started[dept.name] = dept
    yield started
    for dept in started.values():
        await dept.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def full_node(departments, dept_secret, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("scenarios"), {d: m.url for d, m in departments.items()},
                             dept_secret)
    running, stop = await start_node(settings)
    yield running
    await stop()


# ------------------------------------------------------------------ the world, as a clerk meets it


class People:
    """Persons and bodies of the world picked for what they are, never by position."""

    def __init__(self, world):
        self.world = world
        self.cases = court_cases(world)
        self._used: set[str] = set()

    def _latest(self, p):
        acts = [a for a in self.world.acts_of(p.id_number) if a.op_type in ("IA", "IB", "ID")]
        return acts[-1] if acts else None

    @staticmethod
    def _other(act, p):
        return act.woman if act.man.id_number == p.id_number else act.man

    def alive(self, p) -> bool:
        return p.id_number not in self.world.deaths and p.kind == "resident" and age_on(p, TODAY) >= 18

    def unmarried(self, n=1, *, where=lambda p: True):
        out = [p for p in self.world.persons if self.alive(p) and not self.world.acts_of(p.id_number)
               and p.id_number not in self._used and "·" not in p.name and where(p)][:n]
        self._used.update(p.id_number for p in out)
        return out if n > 1 else out[0]

    def couple(self, *, where=lambda p, s: True):
        for p in self.world.persons:
            act = self._latest(p)
            if act and act.op_type == "IA" and self.alive(p) and p.id_number not in self.world.renamed:
                s = self._other(act, p)
                if self.alive(s) and self._latest(s) == act and s.id_number not in self.world.renamed and where(p, s):
                    return p, s
        raise AssertionError("no such couple in the world")

    def widowed(self):
        for p in self.world.persons:
            act = self._latest(p)
            if act and act.op_type == "IA" and self.alive(p):
                s = self._other(act, p)
                if s.id_number in self.world.deaths:
                    return p, s
        raise AssertionError("no widowed person in the world")

    def dead(self, *, married: bool | None = None, spouse_alive: bool | None = None):
        for d in self.world.deaths.values():
            act = self._latest(d.person)
            if married is False and self.world.acts_of(d.person.id_number):
                continue
            if married:
                if not act or act.op_type != "IA":
                    continue
                s = self._other(act, d.person)
                if spouse_alive is not None and (s.id_number not in self.world.deaths) != spouse_alive:
                    continue
                if spouse_alive and not self.alive(s):
                    continue
                return d.person, s
            return d.person
        raise AssertionError("no such decedent")

    def minor(self):
        return next(p for p in self.world.persons if age_on(p, TODAY) < 18)

    def renamed(self):
        return self.world.person(next(iter(self.world.renamed)))

    def of_kind(self, kind):
        return next(p for p in self.world.persons if p.kind == kind and not self.world.acts_of(p.id_number)
                    and p.id_number not in self.world.deaths)

    def org(self, *, status="存续", name=None):
        for o in self.world.organizations:
            if name is not None and o.name != name:
                continue
            if name is None and (o.status != status or "银行" in o.name or o.credit_code[:2] != "91"
                                 or o.legal_representative.id_number in self.world.deaths):
                continue
            return o
        raise AssertionError("no such organisation")

    def licensed_bank(self):
        return next(lic for lic in self.world.licenses if lic.valid and "银行" in lic.organization.name)

    def case(self, kind):
        return next(c for c in self.cases if c.kind == kind)


@pytest.fixture(scope="module")
def people(world):
    return People(world)


def person(p, role, **change):
    fields = {"role": role, "name": p.name, "id_number": p.id_number} | change
    return pb.CaseParty(**fields)


def org(o, role, **extra):
    return pb.CaseParty(role=role, credit_code=o.credit_code, organization_name=o.name, **extra)


def litigant(lit, role):
    if lit.is_person:
        return pb.CaseParty(role=role, name=lit.name, id_number=lit.identifier)
    return pb.CaseParty(role=role, organization_name=lit.name, credit_code=lit.identifier)


def lit(case, court_role):
    return next(p for p in case.parties if p.role == court_role)


def flat_of(case) -> str:
    text = "".join(t for d in case.documents for t in d.operative)
    return re.search(r"位于(.+?室)", text).group(1)


def wrong_name(p) -> str:
    return p.name[0] + ("国" if p.name[1:2] != "国" else "民") + p.name[2:]


def lower_x(p):
    return p.id_number[:-1] + "x"


def fifteen(p):
    return p.id_number[:6] + p.id_number[8:17]


@dataclass
class Scenario:
    registration_type: str
    parties: list
    status: str
    codes: list[str]
    extra: dict = field(default_factory=dict)


async def run(node, sc: Scenario, **context):
    reply = await node.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(**context), registration_type=sc.registration_type, parties=sc.parties, **sc.extra), timeout=15)
    return reply


def status_name(reply) -> str:
    return pb.CaseStatus.Name(reply.status).removeprefix("CASE_STATUS_")


# Each scenario: name -> function(people) -> Scenario. The defect each one pins is in its name.
SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


# ---------------------------------------------------------------- transfer (买卖、赠与)

@scenario
def transfer_between_unmarried_persons(w):
    s, b = w.unmarried(2)
    return Scenario("transfer", [person(s, "seller"), person(b, "buyer")], CLEAR,
                    ["MARRIAGE_NO_RECORD", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_dead_seller(w):
    return Scenario("transfer", [person(w.dead(married=False), "seller"), person(w.unmarried(), "buyer")], ATTENTION,
                    ["PARTY_DECEASED", "MARRIAGE_NO_RECORD", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_married_seller_needs_consent(w):
    s, _ = w.couple()
    return Scenario("transfer", [person(s, "seller"), person(w.unmarried(), "buyer")], ATTENTION,
                    ["SPOUSE_CONSENT_NEEDED", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_married_couple_sells_together(w):
    s, spouse = w.couple()
    return Scenario("transfer", [person(s, "seller"), person(spouse, "seller"), person(w.unmarried(), "buyer")],
                    CLEAR, ["SPOUSE_IS_PARTY", "SPOUSE_IS_PARTY", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_spouse_id_typed_with_lower_case_x(w):
    s, spouse = w.couple(where=lambda p, s: s.id_number.endswith("X"))
    return Scenario("transfer", [person(s, "seller"), person(spouse, "seller", id_number=lower_x(spouse)),
                                 person(w.unmarried(), "buyer")],
                    CLEAR, ["SPOUSE_IS_PARTY", "SPOUSE_IS_PARTY", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_spouse_id_in_15_digit_form(w):
    s, spouse = w.couple(where=lambda p, s: s.birth_date.year < 2000)
    return Scenario("transfer", [person(s, "seller"), person(spouse, "seller", id_number=fifteen(spouse)),
                                 person(w.unmarried(), "buyer")],
                    CLEAR, ["SPOUSE_IS_PARTY", "SPOUSE_IS_PARTY", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_widowed_seller_is_not_told_to_get_consent(w):
    s, _ = w.widowed()
    return Scenario("transfer", [person(s, "seller"), person(w.unmarried(), "buyer")], ATTENTION,
                    ["SPOUSE_DECEASED", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_seller_married_under_a_former_name(w):
    return Scenario("transfer", [person(w.renamed(), "seller"), person(w.unmarried(), "buyer")], ATTENTION,
                    ["SPOUSE_CONSENT_NEEDED", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_to_a_minor_buyer(w):
    return Scenario("transfer", [person(w.unmarried(), "seller"), person(w.minor(), "buyer")], ATTENTION,
                    ["MINOR_PARTY", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_by_a_minor_seller(w):
    return Scenario("transfer", [person(w.minor(), "seller"), person(w.unmarried(), "buyer")], ATTENTION,
                    ["MINOR_PARTY", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_signed_by_an_agent(w):
    s, b, a = w.unmarried(3)
    return Scenario("transfer", [person(s, "seller"), person(b, "buyer"), person(a, "agent")], ATTENTION,
                    ["AGENT_AUTHORIZATION", "MARRIAGE_NO_RECORD", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_seller_name_mismatch(w):
    s = w.unmarried()
    return Scenario("transfer", [person(s, "seller", name=wrong_name(s)), person(w.unmarried(), "buyer")], ATTENTION,
                    ["NAME_MISMATCH", "MARRIAGE_NO_RECORD", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_seller_unknown_to_the_police(w):
    from mocks.population import unknown_id

    return Scenario("transfer", [pb.CaseParty(role="seller", name="张伟", id_number=unknown_id(w.world.persons)),
                                 person(w.unmarried(), "buyer")], ATTENTION,
                    ["ID_NOT_FOUND", "MARRIAGE_NO_RECORD", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_by_an_active_company(w):
    return Scenario("transfer", [org(w.org(), "seller"), person(w.unmarried(), "buyer")], CLEAR,
                    ["MARRIAGE_NO_RECORD"])


@scenario
def transfer_by_a_revoked_company(w):
    return Scenario("transfer", [org(w.org(status="吊销"), "seller"), person(w.unmarried(), "buyer")], ATTENTION,
                    ["ORG_REVOKED", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_by_a_cancelled_company(w):
    return Scenario("transfer", [org(w.org(status="注销"), "seller"), person(w.unmarried(), "buyer")], ATTENTION,
                    ["ORG_CANCELLED", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_company_name_differs_from_register(w):
    o = w.org()
    return Scenario("transfer", [pb.CaseParty(role="seller", credit_code=o.credit_code, organization_name=o.name + "分公司"),
                                 person(w.unmarried(), "buyer")], ATTENTION,
                    ["ORG_NAME_MISMATCH", "MARRIAGE_NO_RECORD"])


@scenario
def transfer_to_a_hong_kong_resident(w):
    return Scenario("transfer", [person(w.unmarried(), "seller"), person(w.of_kind("hmt"), "buyer")], CLEAR,
                    ["MARRIAGE_NO_RECORD", "MARRIAGE_NOT_IN_NATIONAL_DATA"])


@scenario
def transfer_to_a_foreign_permanent_resident(w):
    return Scenario("transfer", [person(w.unmarried(), "seller"), person(w.of_kind("foreigner"), "buyer")], CLEAR,
                    ["MARRIAGE_NO_RECORD", "MARRIAGE_NOT_IN_NATIONAL_DATA"])


@scenario
def transfer_to_a_public_institution(w):
    return Scenario("transfer", [person(w.unmarried(), "seller"), org(w.org(name="北京市朝阳区第一实验中学"), "buyer")],
                    CLEAR, ["MARRIAGE_NO_RECORD"])


@scenario
def transfer_by_a_social_organisation(w):
    return Scenario("transfer", [org(w.org(name="北京市朝阳区慈善协会"), "seller"), person(w.unmarried(), "buyer")],
                    CLEAR, ["MARRIAGE_NO_RECORD"])


@scenario
def transfer_to_a_foundation(w):
    return Scenario("transfer", [person(w.unmarried(), "seller"), org(w.org(name="北京安康公益基金会"), "buyer")],
                    CLEAR, ["MARRIAGE_NO_RECORD"])


# ---------------------------------------------------------------- transfer by judgment

def _tbj(case, applicant_role, former_role, status, codes, **extra):
    return Scenario("transfer_by_judgment", [litigant(lit(case, applicant_role), "applicant"),
                                             litigant(lit(case, former_role), "former_owner")],
                    status, codes, {"judgment_case_number": case.case_number, **extra})


@scenario
def judgment_sale_transfer(w):
    return _tbj(w.case("sale"), "原告", "被告", CLEAR, [])


@scenario
def judgment_sale_with_the_flat_named(w):
    sale = w.case("sale")
    return _tbj(sale, "原告", "被告", CLEAR, [], property_address=flat_of(sale))


@scenario
def judgment_sale_naming_another_flat(w):
    return _tbj(w.case("sale"), "原告", "被告", ATTENTION, ["JUDGMENT_PROPERTY_NOT_NAMED"],
                property_address="北京市朝阳区不存在路1号院1号楼1单元101室")


@scenario
def judgment_refusing_a_divorce(w):
    return _tbj(w.case("divorce_refused"), "原告", "被告", ATTENTION, ["JUDGMENT_NO_PROPERTY_EFFECT"])


@scenario
def judgment_execution_ruling_that_only_seizes(w):
    return _tbj(w.case("seizure"), "申请执行人", "被执行人", ATTENTION, ["JUDGMENT_NO_PROPERTY_EFFECT"])


@scenario
def judgment_that_was_appealed(w):
    return _tbj(w.case("appealed"), "原告", "被告", ATTENTION, ["JUDGMENT_APPEALED"])


@scenario
def judgment_defendant_applies_as_new_owner(w):
    return _tbj(w.case("sale"), "被告", "原告", ATTENTION, ["JUDGMENT_ROLE_MISMATCH", "JUDGMENT_ROLE_MISMATCH"])


@scenario
def judgment_debt_in_kind_ruling(w):
    return _tbj(w.case("debt_in_kind"), "申请执行人", "被执行人", CLEAR, [])


@scenario
def judgment_mediation_agreement(w):
    return _tbj(w.case("mediation"), "原告", "被告", CLEAR, [])


@scenario
def judgment_applicant_not_in_the_document(w):
    sale = w.case("sale")
    return Scenario("transfer_by_judgment", [person(w.unmarried(), "applicant"),
                                             litigant(lit(sale, "被告"), "former_owner")],
                    ATTENTION, ["JUDGMENT_PARTIES_DIFFER"], {"judgment_case_number": sale.case_number})


@scenario
def judgment_unknown_to_the_court(w):
    return Scenario("transfer_by_judgment", [person(w.unmarried(), "applicant")], ATTENTION, ["JUDGMENT_NOT_FOUND"],
                    {"judgment_case_number": "（2025）京0105民初99999号"})


@scenario
def judgment_old_form_number_in_ascii_brackets(w):
    old = w.case("old_form")
    return _tbj(old, "原告", "被告", CLEAR, [],
                judgment_case_number=old.case_number.replace("（", "(").replace("）", ")"))


@scenario
def judgment_dead_applicant(w):
    sale = w.case("sale")
    return Scenario("transfer_by_judgment", [person(w.dead(married=False), "applicant"),
                                             litigant(lit(sale, "被告"), "former_owner")],
                    ATTENTION, ["PARTY_DECEASED", "JUDGMENT_PARTIES_DIFFER"], {"judgment_case_number": sale.case_number})


# ---------------------------------------------------------------- seizure (查封)

@scenario
def seizure_by_execution_ruling(w):
    case = w.case("seizure")
    return Scenario("seizure", [litigant(lit(case, "被执行人"), "holder")], CLEAR, [],
                    {"judgment_case_number": case.case_number})


@scenario
def seizure_citing_a_sale_judgment(w):
    sale = w.case("sale")
    return Scenario("seizure", [litigant(lit(sale, "被告"), "holder")], ATTENTION, ["JUDGMENT_NO_PROPERTY_EFFECT"],
                    {"judgment_case_number": sale.case_number})


@scenario
def seizure_of_a_revoked_company_is_carried_out(w):
    case = w.case("seizure_revoked_company")
    return Scenario("seizure", [litigant(lit(case, "被执行人"), "holder")], CLEAR, ["ORG_REVOKED_COURT_ORDERED"],
                    {"judgment_case_number": case.case_number})


@scenario
def seizure_unknown_ruling(w):
    return Scenario("seizure", [person(w.unmarried(), "holder")], ATTENTION, ["JUDGMENT_NOT_FOUND"],
                    {"judgment_case_number": "（2025）京0105执99999号"})


@scenario
def seizure_holder_is_the_creditor(w):
    case = w.case("seizure")
    return Scenario("seizure", [litigant(lit(case, "申请执行人"), "holder")], ATTENTION, ["JUDGMENT_ROLE_MISMATCH"],
                    {"judgment_case_number": case.case_number})


# ---------------------------------------------------------------- mortgage (抵押)

@scenario
def mortgage_to_a_licensed_bank(w):
    bank = w.licensed_bank()
    return Scenario("mortgage", [person(w.unmarried(), "mortgagor"),
                                 org(bank.organization, "mortgagee", license_code=bank.license_code)],
                    CLEAR, ["MARRIAGE_NO_RECORD"])


@scenario
def mortgage_to_a_bank_named_without_licence_code(w):
    # 金融许可证查询 (YB01) answers by 机构编码 only: without one the licence is left to a person
    return Scenario("mortgage", [person(w.unmarried(), "mortgagor"), org(w.licensed_bank().organization, "mortgagee")],
                    INCOMPLETE, ["MARRIAGE_NO_RECORD"])


@scenario
def mortgage_by_a_dead_mortgagor(w):
    bank = w.licensed_bank()
    return Scenario("mortgage", [person(w.dead(married=False), "mortgagor"),
                                 org(bank.organization, "mortgagee", license_code=bank.license_code)],
                    ATTENTION, ["PARTY_DECEASED", "MARRIAGE_NO_RECORD"])


@scenario
def mortgage_by_a_married_mortgagor(w):
    s, _ = w.couple(where=lambda p, s: p.id_number > s.id_number)
    bank = w.licensed_bank()
    return Scenario("mortgage", [person(s, "mortgagor"), org(bank.organization, "mortgagee", license_code=bank.license_code)],
                    ATTENTION, ["SPOUSE_CONSENT_NEEDED"])


@scenario
def mortgage_by_a_widowed_mortgagor(w):
    s, _ = w.widowed()
    bank = w.licensed_bank()
    return Scenario("mortgage", [person(s, "mortgagor"), org(bank.organization, "mortgagee", license_code=bank.license_code)],
                    ATTENTION, ["SPOUSE_DECEASED"])


@scenario
def mortgage_to_a_small_loan_company(w):
    return Scenario("mortgage", [person(w.unmarried(), "mortgagor"),
                                 org(w.org(name="北京鑫汇通小额贷款有限公司"), "mortgagee")],
                    INCOMPLETE, ["MARRIAGE_NO_RECORD"])


@scenario
def mortgage_to_a_financing_guarantee_company(w):
    return Scenario("mortgage", [person(w.unmarried(), "mortgagor"),
                                 org(w.org(name="北京中盈融资担保有限公司"), "mortgagee")],
                    INCOMPLETE, ["MARRIAGE_NO_RECORD"])


@scenario
def mortgage_to_an_ordinary_company(w):
    return Scenario("mortgage", [person(w.unmarried(), "mortgagor"), org(w.org(name="北京恒信商贸有限公司"), "mortgagee")],
                    INCOMPLETE, ["MARRIAGE_NO_RECORD"])


@scenario
def mortgage_to_a_natural_person(w):
    m, lender = w.unmarried(2)
    return Scenario("mortgage", [person(m, "mortgagor"), person(lender, "mortgagee")], CLEAR, ["MARRIAGE_NO_RECORD"])


@scenario
def mortgage_to_a_dead_natural_person(w):
    return Scenario("mortgage", [person(w.unmarried(), "mortgagor"), person(w.dead(married=False), "mortgagee")],
                    ATTENTION, ["PARTY_DECEASED", "MARRIAGE_NO_RECORD"])


@scenario
def mortgage_with_a_withdrawn_licence(w):
    lic = next(x for x in w.world.licenses if not x.valid)
    return Scenario("mortgage", [person(w.unmarried(), "mortgagor"),
                                 org(lic.organization, "mortgagee", license_code=lic.license_code)],
                    INCOMPLETE, ["MARRIAGE_NO_RECORD"])  # YB01 has no status: a person decides


@scenario
def mortgage_with_a_licence_code_nobody_holds(w):
    return Scenario("mortgage", [person(w.unmarried(), "mortgagor"),
                                 org(w.org(name="北京鑫汇通小额贷款有限公司"), "mortgagee", license_code="B9999H111000001")],
                    ATTENTION, ["LICENSE_NOT_FOUND", "MARRIAGE_NO_RECORD"])


# ---------------------------------------------------------------- inheritance (继承)

@scenario
def inheritance_spouse_alive_and_listed(w):
    d, s = w.dead(married=True, spouse_alive=True)
    return Scenario("inheritance", [person(d, "decedent"), person(s, "heir")], ATTENTION, ["SURVIVING_SPOUSE"])


@scenario
def inheritance_spouse_alive_not_listed(w):
    d, _ = w.dead(married=True, spouse_alive=True)
    return Scenario("inheritance", [person(d, "decedent"), person(w.unmarried(), "heir")], ATTENTION,
                    ["SURVIVING_SPOUSE"])


@scenario
def inheritance_spouse_also_dead_gets_no_half(w):
    d, _ = w.dead(married=True, spouse_alive=False)
    return Scenario("inheritance", [person(d, "decedent"), person(w.unmarried(), "heir")], ATTENTION,
                    ["ESTATE_SPOUSE_DECEASED"])


@scenario
def inheritance_decedent_without_death_record(w):
    return Scenario("inheritance", [person(w.unmarried(), "decedent"), person(w.unmarried(), "heir")], ATTENTION,
                    ["DECEDENT_NO_DEATH_RECORD", "MARRIAGE_NO_RECORD"])


@scenario
def inheritance_unmarried_decedent(w):
    return Scenario("inheritance", [person(w.dead(married=False), "decedent"), person(w.unmarried(), "heir")], CLEAR,
                    ["MARRIAGE_NO_RECORD"])


@scenario
def inheritance_minor_heir(w):
    return Scenario("inheritance", [person(w.dead(married=False), "decedent"), person(w.minor(), "heir")], ATTENTION,
                    ["MINOR_PARTY", "MARRIAGE_NO_RECORD"])


@scenario
def inheritance_dead_heir(w):
    return Scenario("inheritance", [person(w.dead(married=False), "decedent"), person(w.dead(married=False), "heir")],
                    ATTENTION, ["PARTY_DECEASED", "MARRIAGE_NO_RECORD"])


# ---------------------------------------------------------------- first registration (首次登记)

@scenario
def first_registration_by_a_company(w):
    o = w.org()
    return Scenario("first", [org(o, "holder"), person(o.legal_representative, "legal_representative")], CLEAR, [])


@scenario
def first_registration_by_a_revoked_company(w):
    return Scenario("first", [org(w.org(status="吊销"), "holder"), person(w.unmarried(), "legal_representative")],
                    ATTENTION, ["ORG_REVOKED", "LEGAL_REPRESENTATIVE_DIFFERS"])


@scenario
def first_registration_by_a_villager(w):
    return Scenario("first", [person(w.unmarried(), "holder")], CLEAR, [])


@scenario
def first_registration_by_a_dead_villager(w):
    return Scenario("first", [person(w.dead(married=False), "holder")], ATTENTION, ["PARTY_DECEASED"])


@scenario
def first_registration_by_a_public_institution(w):
    o = w.org(name="北京市朝阳区第一实验中学")
    return Scenario("first", [org(o, "holder"), person(o.legal_representative, "legal_representative")], CLEAR, [])


# ---------------------------------------------------------------- cancellation (注销)

@scenario
def cancellation_by_the_holder(w):
    return Scenario("cancellation", [person(w.unmarried(), "holder")], CLEAR, [])


@scenario
def cancellation_holder_name_wrong(w):
    h = w.unmarried()
    return Scenario("cancellation", [person(h, "holder", name=wrong_name(h))], ATTENTION, ["NAME_MISMATCH"])


@scenario
def cancellation_of_a_dead_holder(w):
    return Scenario("cancellation", [person(w.dead(married=False), "holder")], CLEAR, ["HOLDER_DECEASED"])


@scenario
def cancellation_by_a_company(w):
    return Scenario("cancellation", [org(w.org(), "holder")], CLEAR, [])


# ---------------------------------------------------------------- advance notice (预告)

@scenario
def advance_notice_between_unmarried_persons(w):
    s, b = w.unmarried(2)
    return Scenario("advance_notice", [person(s, "seller"), person(b, "buyer")], CLEAR, ["MARRIAGE_NO_RECORD"])


@scenario
def advance_notice_married_obligor(w):
    s, _ = w.couple(where=lambda p, s: p.sex == "2")
    return Scenario("advance_notice", [person(s, "seller"), person(w.unmarried(), "buyer")], ATTENTION,
                    ["SPOUSE_CONSENT_NEEDED"])


@scenario
def advance_notice_dead_obligor(w):
    return Scenario("advance_notice", [person(w.dead(married=False), "seller"), person(w.unmarried(), "buyer")],
                    ATTENTION, ["PARTY_DECEASED", "MARRIAGE_NO_RECORD"])


@scenario
def advance_notice_from_a_developer(w):
    return Scenario("advance_notice", [org(w.org(), "seller"), person(w.unmarried(), "buyer")], CLEAR, [])


# ---------------------------------------------------------------- change, correction, objection

@scenario
def change_citing_an_unknown_place_name(w):
    return Scenario("change", [person(w.unmarried(), "holder")], ATTENTION, ["PLACE_NAME_NOT_FOUND"],
                    {"place_name": "不存在的地名路"})


@scenario
def change_by_the_holder(w):
    return Scenario("change", [person(w.unmarried(), "holder")], CLEAR, [])


@scenario
def correction_by_a_dead_applicant(w):
    return Scenario("correction", [person(w.dead(married=False), "applicant")], ATTENTION, ["PARTY_DECEASED"])


@scenario
def objection_by_the_applicant(w):
    return Scenario("objection", [person(w.unmarried(), "applicant")], CLEAR, [])


# ---------------------------------------------------------------- 居住权 and 地役权

@scenario
def residence_right_for_a_relative(w):
    g, h = w.unmarried(2)
    return Scenario("residence_right", [person(g, "grantor"), person(h, "holder")], CLEAR, ["MARRIAGE_NO_RECORD"])


@scenario
def residence_right_granted_by_a_married_owner(w):
    g, _ = w.couple(where=lambda p, s: p.sex == "1" and p.birth_date.year > 1970)
    return Scenario("residence_right", [person(g, "grantor"), person(w.unmarried(), "holder")], ATTENTION,
                    ["SPOUSE_CONSENT_NEEDED"])


@scenario
def residence_right_for_a_minor(w):
    return Scenario("residence_right", [person(w.unmarried(), "grantor"), person(w.minor(), "holder")], ATTENTION,
                    ["MINOR_PARTY", "MARRIAGE_NO_RECORD"])


@scenario
def easement_between_neighbours(w):
    a, b = w.unmarried(2)
    return Scenario("easement", [person(a, "servient_holder"), person(b, "dominant_holder")], CLEAR,
                    ["MARRIAGE_NO_RECORD"])


@scenario
def easement_with_a_dead_servient_holder(w):
    return Scenario("easement", [person(w.dead(married=False), "servient_holder"), person(w.unmarried(), "dominant_holder")],
                    ATTENTION, ["PARTY_DECEASED", "MARRIAGE_NO_RECORD"])


@scenario
def easement_for_a_company(w):
    return Scenario("easement", [person(w.unmarried(), "servient_holder"), org(w.org(), "dominant_holder")], CLEAR,
                    ["MARRIAGE_NO_RECORD"])


# ------------------------------------------------------------------ the runs


async def test_there_are_at_least_sixty_scenarios():
    assert len(SCENARIOS) >= 60


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario(full_node, people, name):
    sc = SCENARIOS[name](people)
    reply = await run(full_node, sc)
    got = sorted(f.code for f in reply.findings)
    assert (status_name(reply), got) == (sc.status, sorted(sc.codes)), [f.message for f in reply.findings]
    record = json.loads(reply.record_json)
    # Blockers first; every message plain Chinese with no internal or English source text.
    severities = [f.severity for f in reply.findings]
    assert severities == sorted(severities, reverse=True)
    for text in [f.message for f in reply.findings] + [c.summary for c in reply.checks] + record["by_hand"]:
        assert not re.search(r"[A-Za-z]{3,}|127\.0\.0\.1|请人工核验（请人工核验）", text), text


async def test_no_record_is_never_read_as_unmarried(full_node, people):
    sc = transfer_between_unmarried_persons(people)
    reply = await run(full_node, sc)
    marriage = [c.summary for c in reply.checks if c.kind == "marriage"]
    assert marriage and all("未查询到婚姻登记记录（不能证明未婚）" in s for s in marriage)
    note = next(f.message for f in reply.findings if f.code == "MARRIAGE_NO_RECORD")
    assert "单身声明" in note
    assert json.loads(reply.record_json)["status_text"] == "所列项目未发现异常（不替代审核）"


async def test_widowed_seller_message_names_the_death_not_consent(full_node, people):
    reply = await run(full_node, transfer_widowed_seller_is_not_told_to_get_consent(people))
    message = next(f.message for f in reply.findings if f.code == "SPOUSE_DECEASED")
    assert "死亡" in message and "书面同意" not in message


async def test_revoked_company_under_seizure_is_not_told_cannot_register(full_node, people):
    reply = await run(full_node, seizure_of_a_revoked_company_is_carried_out(people))
    assert all("不能办理" not in f.message for f in reply.findings)


async def test_court_roles_finding_names_what_to_check(full_node, people):
    reply = await run(full_node, judgment_defendant_applies_as_new_owner(people))
    assert all("被告" in f.message or "原告" in f.message for f in reply.findings)
    assert all("请" in f.message for f in reply.findings)


async def test_residence_right_holder_must_be_a_natural_person(full_node, people):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await full_node.stub.CheckCase(pb.CheckCaseRequest(
            context=ctx(), registration_type="residence_right",
            parties=[person(people.unmarried(), "grantor"), org(people.org(), "holder")]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------------ sources down, stale answers


@pytest_asyncio.fixture(loop_scope="module")
async def own_death_node(world, dept_secret, departments, tmp_path):
    """A node with its own death department (so faults there touch no other test) and a death
    cache that is past its ttl at once: any cached answer is stale."""
    from mocks.death import DeathDepartment

    death = DeathDepartment(world, {APP_ID: dept_secret})
    await death.start()
    urls = {d: m.url for d, m in departments.items()} | {"death": death.url}
    settings = make_settings(tmp_path, urls, dept_secret)
    settings.departments["death"].cache_ttl_seconds = 0.001
    running, stop = await start_node(settings)
    yield running, death
    await stop()
    await death.stop()


async def _fault(mock, plan: dict) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{mock.url}/_admin/faults", json=plan) as resp:
            assert resp.status == 200


async def test_stale_death_answer_is_never_clear(own_death_node, people):
    node, death = own_death_node
    sc = transfer_between_unmarried_persons(people)
    first = await run(node, sc)
    assert status_name(first) == CLEAR
    await asyncio.sleep(0.05)  # past the death cache's ttl: what is cached is stale now
    await _fault(death, {"maintenance_seconds": 60})
    reply = await run(node, sc)
    assert status_name(reply) == INCOMPLETE
    statuses = {c.check_id: c.status for c in reply.checks}
    assert statuses["death:seller:0"] == statuses["death:buyer:1"] == pb.CHECK_STATUS_STALE
    assert not reply.complete and len(reply.recheck) == 2 and all("重新核验" in line for line in reply.recheck)
    fresh = await run(node, sc, fresh=True)
    assert status_name(fresh) == INCOMPLETE and json.loads(fresh.record_json)["case"]["fresh"] is True
    assert {c.check_id: c.status for c in fresh.checks}["death:seller:0"] == pb.CHECK_STATUS_STALE


async def test_blocking_finding_heads_an_incomplete_case(own_death_node, departments, people, world):
    node, death = own_death_node
    await _fault(death, {})
    await _fault(departments["marriage"], {"maintenance_seconds": 60})
    try:
        reply = await run(node, transfer_dead_seller(People(world)))
    finally:
        await _fault(departments["marriage"], {})
    assert status_name(reply) == ATTENTION
    assert reply.findings[0].code == "PARTY_DECEASED" and reply.findings[0].severity == pb.SEVERITY_BLOCKING
    assert not reply.complete and len(reply.recheck) == 2
    summaries = [c.summary for c in reply.checks if c.status == pb.CHECK_STATUS_UNAVAILABLE]
    assert summaries and all("127.0.0.1" not in s and "cannot" not in s for s in summaries)
    assert all(line.count("请人工核验") == 1 for line in json.loads(reply.record_json)["by_hand"])


# ------------------------------------------------------------------ property: never CLEAR


def _bad_parties(world):
    """(description, CaseParty factory) for parties that must never give CLEAR."""
    w = People(world)
    dead = [d.person for d in list(world.deaths.values())[:40]]
    living = [p for p in world.persons if w.alive(p)][:200]
    withdrawn = [lic for lic in world.licenses if not lic.valid]
    return dead, living, withdrawn


@pytest.fixture(scope="module")
def bad_pools(world):
    return _bad_parties(world)


ROLES_THAT_SIGN = [("transfer", "seller", "buyer"), ("transfer", "buyer", "seller"), ("mortgage", "mortgagor", None),
                   ("advance_notice", "seller", "buyer"), ("first", "holder", None), ("change", "holder", None),
                   ("residence_right", "grantor", "holder"), ("easement", "servient_holder", "dominant_holder"),
                   ("inheritance", "heir", None)]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_a_deceased_unlicensed_or_mismatched_party_is_never_clear(full_node, bad_pools, data):
    dead, living, withdrawn = bad_pools
    defect = data.draw(st.sampled_from(["deceased", "mismatched", "unlicensed"]))
    if defect == "unlicensed":
        lic = data.draw(st.sampled_from(withdrawn))
        mortgagor = data.draw(st.sampled_from(living))
        parties = [person(mortgagor, "mortgagor"), org(lic.organization, "mortgagee", license_code=lic.license_code)]
        registration_type = "mortgage"
    else:
        registration_type, role, other = data.draw(st.sampled_from(ROLES_THAT_SIGN))
        bad = data.draw(st.sampled_from(dead if defect == "deceased" else living))
        party = person(bad, role, name=wrong_name(bad)) if defect == "mismatched" else person(bad, role)
        parties = [party]
        if other:
            parties.append(person(data.draw(st.sampled_from(living)), other))
        if registration_type == "inheritance":
            parties.append(person(data.draw(st.sampled_from(dead)), "decedent"))
    reply = await full_node.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(), registration_type=registration_type, parties=parties), timeout=15)
    assert reply.status != pb.CASE_STATUS_CLEAR, (defect, [f.code for f in reply.findings])


async def test_reply_for_another_case_number_is_never_taken_for_the_one_asked(
        world, dept_secret, departments, tmp_path, people):
    """A court answering a number with another case's documents: the node must not read them
    as the document cited (the connector used to take whatever came back)."""
    from mocks.court import CourtDepartment

    court = CourtDepartment(world, {APP_ID: dept_secret}, ready_after=0.05)
    sale = people.case("sale")
    asked = "（2025）京0105民初98765号"
    court.by_number[asked] = sale  # the mock answers the asked number with the sale case
    await court.start()
    urls = {d: m.url for d, m in departments.items()} | {"court": court.url}
    running, stop = await start_node(make_settings(tmp_path, urls, dept_secret))
    try:
        reply = await run(running, _tbj(sale, "原告", "被告", "", [], judgment_case_number=asked))
    finally:
        await stop()
        await court.stop()
    assert (status_name(reply), [f.code for f in reply.findings]) == (ATTENTION, ["JUDGMENT_CASE_NUMBER_DIFFERS"])
    assert "人工核对" in reply.findings[0].message
