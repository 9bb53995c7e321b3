"""One synthetic world, cross-consistent across departments, from one seed.

Persons (population.py) marry, divorce and die; organisations have legal representatives
drawn from the living persons; banks among the organisations hold financial licences;
some lenders hold no licence at all. Every mock department serves its slice of this world,
so a case check sees the same people everywhere.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache

from stdnum import numdb
from stdnum.cn import uscc

from mocks.population import SEED, Person, generate, make_id

TODAY = date(2026, 11, 1)  # the world's "now": fixed so every run gives the same world


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class MarriageAct:
    op_type: str  # IA marriage, IB divorce, ICA/ICB reissued certificate, ID annulled
    registered_on: date
    office_code: str
    office_name: str
    certificate_number: str
    man: Person
    woman: Person


@dataclass(frozen=True)
class Death:
    person: Person
    died_on: date
    certificate_number: str
    issuer: str
    cause_code: str


@dataclass(frozen=True)
class Organization:
    credit_code: str
    name: str
    legal_representative: Person
    org_type: str
    domicile: str
    registered_capital: str
    established_on: date
    issuing_office: str
    status: str  # 存续 / 吊销 / 注销
    scope: str
    division_code: str


@dataclass(frozen=True)
class License:
    license_code: str
    serial_number: str
    organization: Organization
    short_name: str
    english_name: str
    institution_type: str
    address: str
    scope: str
    issuing_office: str
    approved_on: date
    issued_on: date
    valid: bool


@dataclass
class World:
    seed: int
    persons: list[Person]
    marriages: list[MarriageAct] = field(default_factory=list)
    deaths: dict[str, Death] = field(default_factory=dict)  # by id_number
    organizations: list[Organization] = field(default_factory=list)
    licenses: list[License] = field(default_factory=list)
    # id_number -> the name under which older records (marriage) were registered
    renamed: dict[str, str] = field(default_factory=dict)

    def person(self, id_number: str) -> Person | None:
        return self._by_id().get(id_number)

    @cache  # noqa: B019 - the world is immutable once built
    def _by_id(self) -> dict[str, Person]:
        return {p.id_number: p for p in self.persons}

    def acts_of(self, id_number: str) -> list[MarriageAct]:
        return self._acts().get(id_number, [])

    @cache  # noqa: B019
    def _acts(self) -> dict[str, list[MarriageAct]]:
        out: dict[str, list[MarriageAct]] = {}
        for act in self.marriages:
            out.setdefault(act.man.id_number, []).append(act)
            out.setdefault(act.woman.id_number, []).append(act)
        return out

    __hash__ = object.__hash__


# ------------------------------------------------------------------ helpers


@cache
def division_name(code: str) -> str:
    """Province + prefecture + county names of a GB/T 2260 code, as far as known."""
    db = numdb.get("cn/loc")
    info = {k: v for _, props in db.info(code) for k, v in props.items()}
    parts = [info.get("province", ""), info.get("prefecture", ""), info.get("county", "")]
    return "".join(p.split("]")[-1].split(",")[0] for p in parts if p)


def _county_name(code: str) -> str:
    db = numdb.get("cn/loc")
    info = {k: v for _, props in db.info(code) for k, v in props.items()}
    return info.get("county", "").split(",")[0].split("]")[-1] or "市"


def _city_name(code: str) -> str:
    db = numdb.get("cn/loc")
    info = {k: v for _, props in db.info(code) for k, v in props.items()}
    name = info.get("prefecture") or info.get("province") or "北京市"
    return name.split(",")[0].split("]")[-1]


def organization_code(rng: random.Random) -> str:
    """GB 11714 organisation code: 8 characters + check (weights 3 7 9 10 5 8 4 2, mod 11)."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "".join(rng.choice("0123456789") for _ in range(2)) + "".join(rng.choice(alphabet[:10]) for _ in range(6))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c, 36) * w for c, w in zip(body, weights))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def make_credit_code(rng: random.Random, department: str, org_type: str, division: str) -> str:
    body = department + org_type + division + organization_code(rng)
    return body + uscc.calc_check_digit(body + "0")


def age_on(person: Person, day: date) -> int:
    b = person.birth_date
    return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


def _random_day(rng: random.Random, start: date, end: date) -> date:
    if end <= start:
        return start
    return start + timedelta(days=rng.randrange((end - start).days))


# ------------------------------------------------------------------ generators

ISSUERS = ("人民医院", "第一人民医院", "中心医院", "中医医院", "妇幼保健院", "社区卫生服务中心")
CAUSES = ("I21.9", "I63.9", "C34.9", "J44.9", "J18.9", "C22.0", "E14.9", "V89.2", "K74.6", "I50.9")


def _deaths(rng: random.Random, persons: list[Person]) -> dict[str, Death]:
    deaths: dict[str, Death] = {}
    serial = 100000
    for person in persons:
        age = age_on(person, TODAY)
        if person.kind != "resident" or rng.random() > (0.02 + max(0, age - 60) * 0.004):
            continue
        died_on = _random_day(rng, max(person.birth_date + timedelta(days=365 * 18), date(2005, 1, 1)), TODAY)
        serial += rng.randrange(1, 50)
        county = _county_name(person.address_code)
        number = person.id_number if died_on >= date(2026, 7, 1) else f"{person.address_code[:2]}{died_on.year}{serial:07d}"
        deaths[person.id_number] = Death(person, died_on, number, county + rng.choice(ISSUERS), rng.choice(CAUSES))
    return deaths


def _marriages(rng: random.Random, persons: list[Person], deaths: dict[str, Death]) -> list[MarriageAct]:
    men = [p for p in persons if p.sex == "1" and p.kind != "foreigner" and age_on(p, TODAY) >= 22]
    women = [p for p in persons if p.sex == "2" and p.kind != "foreigner" and age_on(p, TODAY) >= 20]
    rng.shuffle(men)
    rng.shuffle(women)
    acts: list[MarriageAct] = []
    seq: dict[tuple[str, str, int], int] = {}

    def number(prefix: str, office: str, year: int) -> str:
        key = (prefix, office, year)
        seq[key] = seq.get(key, 0) + 1
        return f"{prefix}{office}-{year}-{seq[key]:06d}"

    def act(op: str, day: date, man: Person, woman: Person, office: str) -> MarriageAct:
        prefix = {"IA": "J", "IB": "L", "ICA": "BJ", "ICB": "BL", "ID": "J"}[op]
        office_name = _county_name(office) + "民政局婚姻登记处"
        cert = number(prefix, office, day.year)
        return MarriageAct(op, day, office, office_name, cert, man, woman)

    def end_of_life(p: Person) -> date:
        return deaths[p.id_number].died_on if p.id_number in deaths else TODAY

    single_women = women
    for man in men[: int(len(men) * 0.72)]:
        if not single_women:
            break
        woman = single_women.pop()
        start = max(man.birth_date + timedelta(days=365 * 22 + 10), woman.birth_date + timedelta(days=365 * 20 + 10),
                    date(1980, 1, 1))
        end = min(end_of_life(man), end_of_life(woman))
        if start >= end:
            continue
        office = man.address_code if man.kind == "resident" else woman.address_code
        if not office.isdigit() or office.startswith(("81", "82", "83", "9")):
            office = "110105"
        married = _random_day(rng, start, min(end, start + timedelta(days=365 * 12)))
        acts.append(act("IA", married, man, woman, office))
        roll = rng.random()
        if roll < 0.15 and married + timedelta(days=400) < end:
            divorced = _random_day(rng, married + timedelta(days=365), end)
            acts.append(act("IB", divorced, man, woman, office))
            if rng.random() < 0.3 and divorced + timedelta(days=60) < end:
                acts.append(act("ICB", _random_day(rng, divorced + timedelta(days=30), end), man, woman, office))
            # some remarry someone else later
            if single_women and rng.random() < 0.5 and divorced + timedelta(days=400) < end_of_life(man):
                second = single_women.pop()
                later = _random_day(rng, max(divorced + timedelta(days=200),
                                             second.birth_date + timedelta(days=365 * 20 + 10)), end_of_life(man))
                if later < min(end_of_life(man), end_of_life(second)):
                    acts.append(act("IA", later, man, second, office))
        elif roll < 0.18 and married + timedelta(days=200) < end:
            acts.append(act("ICA", _random_day(rng, married + timedelta(days=100), end), man, woman, office))
        elif roll < 0.19 and married + timedelta(days=90) < end:
            acts.append(act("ID", _random_day(rng, married + timedelta(days=30), married + timedelta(days=90)),
                            man, woman, office))
    acts.sort(key=lambda a: (a.registered_on, a.certificate_number))
    return acts


BRAND = "华鑫盛泰恒达宏远瑞祥金安顺和永兴中联汇通长城东方新世纪海天嘉禾卓越鼎信"
INDUSTRY = (("房地产开发", "房地产开发经营；物业管理"), ("建筑工程", "房屋建筑工程施工"),
            ("商贸", "日用百货、五金交电销售"), ("置业", "房地产开发经营；房屋租赁"),
            ("科技", "技术开发、技术服务"), ("物业管理", "物业管理；停车场服务"))
ORG_TYPES = ("有限责任公司（自然人投资或控股）", "有限责任公司（法人独资）", "股份有限公司（非上市）")
STATUS = (("存续", 0.85), ("吊销", 0.08), ("注销", 0.07))
BANKS = (  # (type letter, name, short, english, institution code)
    ("B", "中国工商银行股份有限公司", "工商银行", "Industrial and Commercial Bank of China Limited", "0001"),
    ("B", "中国农业银行股份有限公司", "农业银行", "Agricultural Bank of China Limited", "0002"),
    ("B", "中国银行股份有限公司", "中国银行", "Bank of China Limited", "0003"),
    ("B", "中国建设银行股份有限公司", "建设银行", "China Construction Bank Corporation", "0004"),
    ("B", "招商银行股份有限公司", "招商银行", "China Merchants Bank Co., Ltd.", "0011"),
    ("C", "北京农村商业银行股份有限公司", "北京农商银行", "Beijing Rural Commercial Bank Co., Ltd.", "0114"),
    ("K", "华信国际信托有限公司", "华信信托", "Huaxin International Trust Co., Ltd.", "0024"),
    ("L", "鼎信集团财务有限公司", "鼎信财务", "Dingxin Group Finance Co., Ltd.", "0161"),
)
INSTITUTION_TYPES = {"A": "政策性银行", "B": "商业银行", "C": "农村合作银行", "D": "城市信用合作社",
                     "E": "农村信用合作社", "F": "农村资金互助社", "J": "金融资产管理公司", "K": "信托公司",
                     "L": "企业集团财务公司", "M": "金融租赁公司", "N": "汽车金融公司", "P": "货币经纪公司"}
BANK_SCOPE = "吸收公众存款；发放短期、中期和长期贷款；办理国内外结算；办理票据承兑与贴现"


def _organizations(rng: random.Random, persons: list[Person], deaths: dict[str, Death]) -> list[Organization]:
    reps = [p for p in persons if p.kind == "resident" and age_on(p, TODAY) >= 25 and p.id_number not in deaths]
    orgs: list[Organization] = []
    names: set[str] = set()
    count = max(50, len(persons) // 8)
    while len(orgs) < count:
        rep = rng.choice(reps)
        division = rep.address_code if rng.random() < 0.7 else "110105"
        city = _city_name(division).removesuffix("市辖区") or "北京市"
        industry, scope = rng.choice(INDUSTRY)
        name = f"{city.removesuffix('市')}{rng.choice(BRAND)}{rng.choice(BRAND)}{industry}有限公司"
        if name in names:
            continue
        names.add(name)
        roll, status = rng.random(), "存续"
        for text, share in STATUS:
            if roll < share:
                status = text
                break
            roll -= share
        established = _random_day(rng, date(1995, 1, 1), TODAY - timedelta(days=30))
        orgs.append(Organization(
            credit_code=make_credit_code(rng, "9", "1", division), name=name, legal_representative=rep,
            org_type=rng.choice(ORG_TYPES), domicile=f"{division_name(division)}{rng.choice(BRAND)}路{rng.randrange(1, 300)}号",
            registered_capital=f"{rng.choice((50, 100, 500, 1000, 5000, 10000))}万元人民币", established_on=established,
            issuing_office=f"{city}市场监督管理局" if not city.endswith("局") else city, status=status,
            scope=scope, division_code=division,
        ))
    # an unlicensed lender: looks like a finance company, holds no licence (for case findings)
    rep = rng.choice(reps)
    orgs.append(Organization(
        credit_code=make_credit_code(rng, "9", "1", "110105"), name="北京鑫汇通小额贷款有限公司",
        legal_representative=rep, org_type="有限责任公司（自然人投资或控股）",
        domicile="北京市朝阳区建国路88号", registered_capital="10000万元人民币", established_on=date(2014, 5, 6),
        issuing_office="北京市朝阳区市场监督管理局", status="存续", scope="发放贷款及相关咨询活动",
        division_code="110105",
    ))
    return orgs


def _banks(rng: random.Random, persons: list[Person], deaths: dict[str, Death]) -> tuple[list[Organization], list[License]]:
    reps = [p for p in persons if p.kind == "resident" and age_on(p, TODAY) >= 40 and p.id_number not in deaths]
    orgs, licenses = [], []
    for letter, name, short, english, code in BANKS:
        org = Organization(
            credit_code=make_credit_code(rng, "9", "1", "110000"), name=name, legal_representative=rng.choice(reps),
            org_type="股份有限公司（上市、国有控股）" if letter == "B" else "有限责任公司", domicile=f"北京市西城区金融大街{rng.randrange(1, 40)}号",
            registered_capital=f"{rng.randrange(300, 3600) * 10000}万元人民币",
            established_on=_random_day(rng, date(1984, 1, 1), date(2005, 1, 1)), issuing_office="国家市场监督管理总局",
            status="存续", scope=BANK_SCOPE, division_code="110000",
        )
        orgs.append(org)
        approved = org.established_on + timedelta(days=rng.randrange(10, 200))
        licenses.append(License(
            license_code=f"{letter}{code}H111000001", serial_number=f"{rng.randrange(10**7):08d}", organization=org,
            short_name=short, english_name=english, institution_type=INSTITUTION_TYPES[letter], address=org.domicile,
            scope=BANK_SCOPE, issuing_office="国家金融监督管理总局", approved_on=approved,
            issued_on=_random_day(rng, approved, TODAY), valid=True,
        ))
    # a withdrawn licence of a former trust company
    revoked = orgs[-2]
    licenses.append(License(
        license_code="K0099H111000001", serial_number=f"{rng.randrange(10**7):08d}", organization=revoked,
        short_name="华信信托（原）", english_name="Huaxin Trust (former)", institution_type=INSTITUTION_TYPES["K"],
        address=revoked.domicile, scope="资金信托；动产信托", issuing_office="原中国银行业监督管理委员会",
        approved_on=date(2003, 3, 1), issued_on=date(2010, 6, 1), valid=False,
    ))
    return orgs, licenses


MINOR_BIRTHS = (date(2012, 3, 14), date(2015, 9, 2), date(2019, 6, 30))
# 事业单位 (registered by 机构编制, code 1 2) and 社会组织 (民政: 5 1 社会团体, 5 2 民办非企业, 5 3 基金会).
PUBLIC_BODIES = (("1", "2", "北京市朝阳区第一实验中学", "事业单位", "教育教学"),
                 ("5", "1", "北京市朝阳区慈善协会", "社会团体", "慈善募捐；社会救助"),
                 ("5", "3", "北京安康公益基金会", "基金会", "资助公益项目"))
# Lenders that hold no financial licence and need none to be mortgagees.
NON_BANK_LENDERS = (("北京中盈融资担保有限公司", "融资性担保业务"), ("北京恒信商贸有限公司", "日用百货销售"))


def _specials(world: World) -> None:
    """People and bodies the case scenarios need that chance may not give: minors, a person
    whose marriage was registered under a former name, public bodies and non-bank lenders.
    Drawn from their own random stream, so the rest of the world stays as it was."""
    rng = random.Random(world.seed * 13 + 5)
    taken = {p.id_number for p in world.persons}

    def new_person(name: str, born: date, male: bool) -> Person:
        while True:
            seq = rng.randrange(0, 999)
            number = make_id("110105", born, seq | 1 if male else seq & ~1)
            if number not in taken:
                taken.add(number)
                return Person(number, name, "1" if male else "2", born, "01")

    for i, born in enumerate(MINOR_BIRTHS):
        world.persons.append(new_person(("王小明", "李思琪", "张子涵")[i], born, i != 1))
    # Renamed: she married in 2008 as 赵秀英 and is 赵雨桐 in the population register now.
    wife = new_person("赵雨桐", date(1983, 4, 9), False)
    husband = new_person("孙建国", date(1980, 11, 23), True)
    world.persons.extend((wife, husband))
    world.renamed[wife.id_number] = "赵秀英"
    world.marriages.append(MarriageAct("IA", date(2008, 5, 20), "110105", "朝阳区民政局婚姻登记处",
                                       "J110105-2008-900001", husband, replace(wife, name="赵秀英")))
    world.marriages.sort(key=lambda a: (a.registered_on, a.certificate_number))
    # A couple who both died (he in 2019, she in 2023): her estate has no living spouse.
    late_husband = new_person("钱德明", date(1941, 2, 11), True)
    late_wife = new_person("周淑兰", date(1944, 8, 3), False)
    world.persons.extend((late_husband, late_wife))
    world.marriages.append(MarriageAct("IA", date(1966, 10, 1), "110105", "朝阳区民政局婚姻登记处",
                                       "J110105-1966-900002", late_husband, late_wife))
    world.marriages.sort(key=lambda a: (a.registered_on, a.certificate_number))
    for person, died in ((late_husband, date(2019, 3, 2)), (late_wife, date(2023, 12, 9))):
        world.deaths[person.id_number] = Death(person, died, f"11{died.year}{rng.randrange(10**6, 10**7):07d}",
                                               "朝阳区人民医院", "I21.9")
    reps = [p for p in world.persons if p.kind == "resident" and age_on(p, TODAY) >= 40
            and p.id_number not in world.deaths]
    for dept, kind, name, org_type, scope in PUBLIC_BODIES:
        world.organizations.append(Organization(
            credit_code=make_credit_code(rng, dept, kind, "110105"), name=name, legal_representative=rng.choice(reps),
            org_type=org_type, domicile=f"北京市朝阳区{rng.choice(BRAND)}路{rng.randrange(1, 300)}号",
            registered_capital=f"{rng.choice((10, 200, 800))}万元人民币", established_on=date(2001, 9, 1),
            issuing_office="北京市朝阳区民政局" if dept == "5" else "北京市朝阳区委机构编制委员会办公室",
            status="存续", scope=scope, division_code="110105"))
    for name, scope in NON_BANK_LENDERS:
        world.organizations.append(Organization(
            credit_code=make_credit_code(rng, "9", "1", "110105"), name=name, legal_representative=rng.choice(reps),
            org_type="有限责任公司（自然人投资或控股）", domicile=f"北京市朝阳区{rng.choice(BRAND)}路{rng.randrange(1, 300)}号",
            registered_capital="5000万元人民币", established_on=date(2016, 3, 1),
            issuing_office="北京市朝阳区市场监督管理局", status="存续", scope=scope, division_code="110105"))


def build(size: int = 2000, seed: int = SEED) -> World:
    """The whole world for a population size and seed (deterministic)."""
    persons = generate(size, seed)
    rng = random.Random(seed * 7 + 3)
    deaths = _deaths(rng, persons)
    marriages = _marriages(rng, persons, deaths)
    organizations = _organizations(rng, persons, deaths)
    banks, licenses = _banks(rng, persons, deaths)
    world = World(seed=seed, persons=persons, marriages=marriages, deaths=deaths,
                  organizations=organizations + banks, licenses=licenses)
    _specials(world)
    return world
