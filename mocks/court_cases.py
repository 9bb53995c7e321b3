"""Court cases of the synthetic world, deterministic from its seed.

Parties are the world's persons and organisations: a buyer sues a seller and gets the flat
transferred, a bank sues a borrower and then enforces against the mortgaged flat (seizure,
then 以物抵债), heirs of a person who died in the world divide the estate, married couples
are refused a divorce (so the marriage registry stays true). Case numbers follow the 2016
rules from 2016 on and the older 字第 form before; court codes are real (京0105 = 朝阳).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from mocks.population import Person
from mocks.world import TODAY, Organization, World, age_on, division_name

# court code -> (court name, division code, old-style short form, appeal court code)
BASIC_COURTS = {
    "京0101": ("北京市东城区人民法院", "110101", "东", "京02"),
    "京0102": ("北京市西城区人民法院", "110102", "西", "京02"),
    "京0105": ("北京市朝阳区人民法院", "110105", "朝", "京03"),
    "京0106": ("北京市丰台区人民法院", "110106", "丰", "京02"),
    "京0108": ("北京市海淀区人民法院", "110108", "海", "京01"),
    "沪0104": ("上海市徐汇区人民法院", "310104", "徐", "沪01"),
    "沪0115": ("上海市浦东新区人民法院", "310115", "浦", "沪01"),
    "粤0106": ("广州市天河区人民法院", "440106", "穗天法", "粤01"),
    "粤0304": ("深圳市福田区人民法院", "440304", "深福法", "粤03"),
    "浙0106": ("杭州市西湖区人民法院", "330106", "杭西", "浙01"),
    "苏0102": ("南京市玄武区人民法院", "320102", "玄", "苏01"),
    "川0107": ("成都市武侯区人民法院", "510107", "武侯", "川01"),
}
INTERMEDIATE_COURTS = {
    "京01": ("北京市第一中级人民法院", "一中"),
    "京02": ("北京市第二中级人民法院", "二中"),
    "京03": ("北京市第三中级人民法院", "三中"),
    "沪01": ("上海市第一中级人民法院", "沪一中"),
    "粤01": ("广东省广州市中级人民法院", "穗中法"),
    "粤03": ("广东省深圳市中级人民法院", "深中法"),
    "浙01": ("浙江省杭州市中级人民法院", "浙杭"),
    "苏01": ("江苏省南京市中级人民法院", "宁"),
    "川01": ("四川省成都市中级人民法院", "成"),
}
COURT_WEIGHTS = {"京0105": 6, "京0108": 3}  # the registration centre's own district is busiest

ETHNICITY = {"01": "汉族", "04": "藏族", "05": "维吾尔族"}
CN_DIGITS = "〇一二三四五六七八九"
ROADS = "建国朝阳望京东三环安立金台光华紫竹学院中关村丰台西四人民滨江长江天府"


@dataclass(frozen=True)
class Litigant:
    name: str
    role: str  # 原告 被告 上诉人 被上诉人 申请执行人 被执行人 申请人 被申请人 第三人
    identifier: str  # resident ID number or unified social credit code
    is_person: bool
    description: str  # how the document introduces the party


@dataclass(frozen=True)
class Document:
    doc_type: str  # 判决书 / 裁定书 / 调解书
    title: str  # 民事判决书, 执行裁定书 ...
    decided_on: date
    body: tuple[str, ...]  # paragraphs up to and including the one ending in 判决如下：
    operative: tuple[str, ...]  # the operative paragraphs
    closing: tuple[str, ...]  # appeal notice, bench, date, clerk


@dataclass(frozen=True)
class CourtCase:
    case_number: str  # full-width brackets
    court_code: str
    court_name: str
    case_type: str  # 民初 民终 执 执保 财保
    cause: str
    filed_on: date
    parties: tuple[Litigant, ...]
    documents: tuple[Document, ...]
    kind: str = ""  # what the case is useful for: sale, seizure, debt_in_kind, old_form, pending ...

    @property
    def old_form(self) -> bool:
        return "字第" in self.case_number


@dataclass
class _Numbers:
    """Sequence numbers per court, year and case type, increasing like a real docket."""

    rng: random.Random
    last: dict[tuple[str, int, str], int] = field(default_factory=dict)

    def next(self, court: str, year: int, case_type: str) -> str:
        key = (court, year, case_type)
        seq = self.last.get(key, self.rng.randrange(80, 3000)) + self.rng.randrange(1, 60)
        self.last[key] = seq
        if year >= 2016:
            return f"（{year}）{court}{case_type}{seq}号"
        short = BASIC_COURTS[court][2] if court in BASIC_COURTS else INTERMEDIATE_COURTS[court][1]
        return f"（{year}）{short}{case_type}字第{seq:05d}号"


def cn_date(day: date) -> str:
    """二〇一九年五月六日, as documents print it."""
    def digits(n: int) -> str:
        return "".join(CN_DIGITS[int(c)] for c in str(n))

    def small(n: int) -> str:
        tens, ones = divmod(n, 10)
        return ("" if tens == 0 else ("" if tens == 1 else CN_DIGITS[tens]) + "十") + (CN_DIGITS[ones] if ones else "")

    return f"{digits(day.year)}年{small(day.month)}月{small(day.day)}日"


def _ymd(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _money(rng: random.Random, low: int, high: int) -> int:
    return rng.randrange(low // 1000, high // 1000) * 1000


def _person(p: Person, role: str) -> Litigant:
    sex = "男" if p.sex == "1" else "女"
    ethnicity = ETHNICITY.get(p.ethnicity, "")
    description = f"{p.name}，{sex}，{_ymd(p.birth_date)}出生，{ethnicity + '，' if ethnicity else ''}住{division_name(p.address_code)}。"
    return Litigant(p.name, role, p.id_number, True, description)


def _organization(o: Organization, role: str) -> Litigant:
    description = f"{o.name}，住所地{o.domicile}。法定代表人：{o.legal_representative.name}。"
    return Litigant(o.name, role, o.credit_code, False, description)


class _Builder:
    """Draws parties, courts, dates and wording; every case kind is one method."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rng = random.Random(world.seed * 11 + 4)
        self.numbers = _Numbers(self.rng)
        dead = world.deaths
        self.adults = [p for p in world.persons if p.kind == "resident" and p.id_number not in dead
                       and age_on(p, date(2008, 1, 1)) >= 20]
        self.companies = [o for o in world.organizations if "银行" not in o.name and "信托" not in o.name]
        licensed = {lic.organization.credit_code for lic in world.licenses if lic.valid}
        self.banks = [o for o in world.organizations if o.credit_code in licensed and "银行" in o.name]
        self.judges = [p.name for p in self.rng.sample(self.adults, min(40, len(self.adults)))]
        self.cases: list[CourtCase] = []

    # ------------------------------------------------------------ drawing

    def court(self) -> str:
        codes = list(BASIC_COURTS)
        return self.rng.choices(codes, weights=[COURT_WEIGHTS.get(c, 1) for c in codes])[0]

    def day(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randrange(max(1, (end - start).days)))

    def adult(self, *exclude: Person) -> Person:
        while True:
            p = self.rng.choice(self.adults)
            if p not in exclude:
                return p

    def flat(self, court: str) -> str:
        county = division_name(BASIC_COURTS[court][1])
        r = self.rng
        return (f"{county}{r.choice(ROADS)}{r.choice(ROADS)}路{r.randrange(1, 200)}号院{r.randrange(1, 30)}号楼"
                f"{r.randrange(1, 6)}单元{r.randrange(1, 28)}{r.randrange(1, 5):02d}室")

    def certificate(self, court: str, year: int) -> str:
        """不动产权证号 since the unified register (2016 here); 房屋所有权证号 before."""
        if year < 2016:
            return f"{court[0]}房权证{BASIC_COURTS[court][2]}字第{self.rng.randrange(10**5, 10**6):06d}号"
        county = division_name(BASIC_COURTS[court][1])[3:] or "朝阳区"
        return f"{court[0]}（{year}）{county}不动产权第{self.rng.randrange(10**6, 10**7):07d}号"

    def bench(self, day: date) -> tuple[str, ...]:
        judge, clerk = self.rng.sample(self.judges, 2)
        return (f"审判员　{judge}", cn_date(day), f"书记员　{clerk}")

    def dates(self, year: int | None = None) -> tuple[date, date]:
        year = year or self.rng.randrange(2009, 2026)
        filed = self.day(date(year, 1, 5), date(year, 12, 20))
        decided = min(filed + timedelta(days=self.rng.randrange(30, 200)), TODAY - timedelta(days=3))
        return filed, max(decided, filed + timedelta(days=1))

    @staticmethod
    def law(decided: date, old: str, new: str) -> str:
        return f"《中华人民共和国民法典》{new}" if decided >= date(2021, 1, 1) else old

    def add(self, court: str, case_type: str, cause: str, filed: date, parties: list[Litigant],
            documents: list[Document], kind: str = "", number: str | None = None) -> CourtCase:
        number = number or self.numbers.next(court, filed.year, case_type)
        name = BASIC_COURTS[court][0] if court in BASIC_COURTS else INTERMEDIATE_COURTS[court][0]
        case = CourtCase(number, court, name, case_type, cause, filed, tuple(parties), tuple(documents), kind)
        self.cases.append(case)
        return case

    @staticmethod
    def appeal_notice(court: str, verb: str = "判决") -> tuple[str, ...]:
        appeal = INTERMEDIATE_COURTS[BASIC_COURTS[court][3]][0]
        return (f"如不服本{verb}，可以在{verb}书送达之日起十五日内，向本院递交上诉状，并按对方当事人的人数提出副本，"
                f"上诉于{appeal}。",)

    # ------------------------------------------------------------ case kinds

    def house_sale(self, year: int | None = None, kind: str = "", court: str | None = None) -> CourtCase:
        court = court or self.court()
        buyer, seller = self.adult(), None
        seller = self.adult(buyer)
        filed, decided = self.dates(year)
        price = _money(self.rng, 800_000, 9_000_000)
        rest = _money(self.rng, 50_000, price // 3)
        flat = self.flat(court)
        fee = price // 100 // 2 + 70
        parties = [_person(buyer, "原告"), _person(seller, "被告")]
        law = self.law(decided, "《中华人民共和国合同法》第六十条、第一百零七条", "第五百零九条、第五百七十七条")
        body = (
            f"原告{buyer.name}与被告{seller.name}房屋买卖合同纠纷一案，本院于{_ymd(filed)}立案后，依法适用简易程序，"
            "公开开庭进行了审理。本案现已审理终结。",
            f"原告{buyer.name}向本院提出诉讼请求：判令被告协助原告办理位于{flat}房屋的所有权转移登记手续。",
            f"本院认为，原告与被告签订的《存量房屋买卖合同》系双方真实意思表示，合法有效。原告已支付大部分购房款，"
            f"被告应依约协助办理过户手续。依照{law}之规定，判决如下：",
        )
        operative = (
            f"一、原告{buyer.name}与被告{seller.name}签订的《存量房屋买卖合同》继续履行；",
            f"二、被告{seller.name}于本判决生效之日起十日内协助原告{buyer.name}办理位于{flat}房屋"
            f"（权属证书号：{self.certificate(court, filed.year - 3)}）的所有权转移登记手续；",
            f"三、原告{buyer.name}于上述房屋所有权转移登记手续办理完毕之日起三日内向被告{seller.name}支付剩余购房款{rest}元。",
            f"案件受理费{fee}元，由被告{seller.name}负担（于本判决生效之日起七日内交纳）。",
        )
        doc = Document("判决书", "民事判决书", decided, body, operative, self.appeal_notice(court) + self.bench(decided))
        return self.add(court, "民初", "房屋买卖合同纠纷", filed, parties, [doc], kind)

    def private_loan(self, lender: Person | None = None, borrower: Person | None = None, year: int | None = None,
                     court: str | None = None, kind: str = "") -> CourtCase:
        court = court or self.court()
        lender = lender or self.adult()
        borrower = borrower or self.adult(lender)
        filed, decided = self.dates(year)
        amount = _money(self.rng, 30_000, 2_000_000)
        law = self.law(decided, "《中华人民共和国合同法》第二百零六条、第二百零七条", "第六百七十五条、第六百七十六条")
        body = (
            f"原告{lender.name}与被告{borrower.name}民间借贷纠纷一案，本院立案后，依法适用简易程序，公开开庭进行了审理。",
            f"本院认为，合法的借贷关系受法律保护。被告向原告借款{amount}元，到期未还，应承担还款责任。"
            f"依照{law}之规定，判决如下：",
        )
        operative = (
            f"一、被告{borrower.name}于本判决生效之日起十日内偿还原告{lender.name}借款本金{amount}元及利息"
            "（以实际欠款为基数，按照全国银行间同业拆借中心公布的一年期贷款市场报价利率，自起诉之日起计算至实际付清之日止）；",
            f"二、驳回原告{lender.name}的其他诉讼请求。",
            "如果未按本判决指定的期间履行给付金钱义务，应当依照《中华人民共和国民事诉讼法》的规定，加倍支付迟延履行期间的债务利息。",
            f"案件受理费{amount // 100 // 2 + 50}元，由被告{borrower.name}负担。",
        )
        doc = Document("判决书", "民事判决书", decided, body, operative, self.appeal_notice(court) + self.bench(decided))
        return self.add(court, "民初", "民间借贷纠纷", filed, [_person(lender, "原告"), _person(borrower, "被告")],
                        [doc], kind)

    def bank_loan(self, borrower: Person | None = None, year: int | None = None, court: str | None = None) -> CourtCase:
        court = court or self.court()
        bank = self.rng.choice(self.banks)
        borrower = borrower or self.adult()
        filed, decided = self.dates(year)
        amount = _money(self.rng, 300_000, 5_000_000)
        flat = self.flat(court)
        body = (
            f"原告{bank.name}与被告{borrower.name}金融借款合同纠纷一案，本院立案后，依法适用普通程序，公开开庭进行了审理。",
            f"本院认为，原告与被告签订的《个人购房借款及担保合同》合法有效。被告未按约还款，构成违约。原告对抵押房屋享有抵押权。"
            f"依照{self.law(decided, '《中华人民共和国物权法》第一百七十九条', '第三百九十四条、第六百七十五条')}之规定，判决如下：",
        )
        operative = (
            f"一、被告{borrower.name}于本判决生效之日起十日内偿还原告{bank.name}借款本金{amount}元及利息、罚息；",
            f"二、如被告{borrower.name}未履行上述给付义务，原告{bank.name}有权以被告{borrower.name}名下位于{flat}的房屋"
            "折价或者以拍卖、变卖该房屋所得价款在上述债权范围内优先受偿。",
            f"案件受理费{amount // 100 // 2 + 100}元，由被告{borrower.name}负担。",
        )
        doc = Document("判决书", "民事判决书", decided, body, operative, self.appeal_notice(court) + self.bench(decided))
        return self.add(court, "民初", "金融借款合同纠纷", filed, [_organization(bank, "原告"), _person(borrower, "被告")],
                        [doc])

    def seizure(self, judgment: CourtCase, kind: str = "", debt_in_kind: bool = False,
                case_type: str = "执") -> CourtCase:
        """Enforcement of a money judgment (执): a ruling seizing the debtor's flat and, later
        perhaps, handing it to the creditor in payment (以物抵债). With case_type 执保 the seizure
        enforces a preservation order made during the trial instead."""
        court = judgment.court_code
        creditor = next(p for p in judgment.parties if p.role == "原告")
        debtor = next(p for p in judgment.parties if p.role == "被告")
        ruled = judgment.documents[0].decided_on
        filed = min(ruled + timedelta(days=self.rng.randrange(40, 120)), TODAY - timedelta(days=20))
        seized = min(filed + timedelta(days=self.rng.randrange(5, 30)), TODAY - timedelta(days=10))
        flat = self.flat(court)
        cert = self.certificate(court, ruled.year - 5)
        parties = [replace(creditor, role="申请执行人"), replace(debtor, role="被执行人")]
        if case_type == "执保":
            intro = (f"本院在审理{judgment.case_number}原告{creditor.name}与被告{debtor.name}{judgment.cause}一案中，"
                     f"原告申请财产保全并提供了担保，本院已裁定准许，现移送执行。")
        else:
            intro = (f"本院在执行申请执行人{creditor.name}与被执行人{debtor.name}{judgment.cause}一案中，"
                     f"因被执行人未按执行通知履行{judgment.case_number}民事判决书确定的义务，")
        docs = [Document("裁定书", "执行裁定书", seized,
                         (intro + "依照《中华人民共和国民事诉讼法》之规定，裁定如下：",),
                         (f"查封被执行人{debtor.name}名下位于{flat}的房屋（权属证书号：{cert}），查封期限为三年。",
                          "本裁定立即执行。"),
                         self.bench(seized))]
        if debt_in_kind:
            handed = min(seized + timedelta(days=self.rng.randrange(120, 300)), TODAY - timedelta(days=2))
            value = _money(self.rng, 600_000, 6_000_000)
            docs.append(Document(
                "裁定书", "执行裁定书", handed,
                (intro + "本院依法对查封的房屋进行了两次拍卖，均流拍。申请执行人同意以该房屋抵偿债务。"
                 "依照《最高人民法院关于人民法院民事执行中拍卖、变卖财产的规定》之规定，裁定如下：",),
                (f"一、被执行人{debtor.name}名下位于{flat}的房屋（权属证书号：{cert}）作价{value}元交付申请执行人"
                 f"{creditor.name}抵偿{judgment.case_number}民事判决书确定的债务；",
                 f"二、上述房屋的所有权自本裁定送达申请执行人{creditor.name}时起转移；",
                 f"三、申请执行人{creditor.name}可持本裁定书到不动产登记机构办理相关产权过户登记手续。",
                 "本裁定送达后即发生法律效力。"),
                self.bench(handed)))
        return self.add(court, case_type, judgment.cause, filed, parties, docs, kind)

    def preservation(self, applicant: Person, respondent: Person, before: date, court: str) -> CourtCase:
        """财保: pre-litigation preservation, freezing the respondent's property."""
        filed = before - timedelta(days=self.rng.randrange(10, 25))
        ruled = filed + timedelta(days=2)
        amount = _money(self.rng, 50_000, 1_000_000)
        doc = Document(
            "裁定书", "民事裁定书", ruled,
            (f"申请人{applicant.name}于{_ymd(filed)}向本院提出诉前财产保全申请，请求冻结被申请人{respondent.name}"
             f"银行存款{amount}元或查封、扣押其等值财产，并提供了担保。本院经审查认为，申请符合法律规定。"
             "依照《中华人民共和国民事诉讼法》之规定，裁定如下：",),
            (f"冻结被申请人{respondent.name}名下银行存款{amount}元或查封、扣押其相应价值的其他财产。",
             "申请人应当在本院采取保全措施后三十日内依法提起诉讼，逾期不起诉的，本院将解除保全。",
             "本裁定立即开始执行。"),
            ("如不服本裁定，可以自收到裁定书之日起五日内向本院申请复议一次。复议期间不停止裁定的执行。",) + self.bench(ruled))
        return self.add(court, "财保", "申请诉前财产保全", filed,
                        [_person(applicant, "申请人"), _person(respondent, "被申请人")], [doc])

    def inheritance(self, year: int | None = None, kind: str = "") -> CourtCase | None:
        deaths = [d for d in self.world.deaths.values() if d.died_on < TODAY - timedelta(days=400)]
        if not deaths:
            return None
        death = self.rng.choice(deaths)
        same_surname = [p for p in self.adults if p.name[0] == death.person.name[0]] or self.adults
        heir, other = self.rng.sample(same_surname, 2)
        court = self.court()
        filed, decided = self.dates(year or max(death.died_on.year + 1, 2009))
        if filed <= death.died_on:
            filed, decided = death.died_on + timedelta(days=60), death.died_on + timedelta(days=200)
        decided = min(decided, TODAY - timedelta(days=3))
        flat = self.flat(court)
        pay = _money(self.rng, 100_000, 2_000_000)
        body = (
            f"原告{heir.name}与被告{other.name}继承纠纷一案，本院立案后，依法适用普通程序，公开开庭进行了审理。",
            f"被继承人{death.person.name}于{_ymd(death.died_on)}去世，生前未留有遗嘱，遗有位于{flat}的房屋一套。"
            f"依照{self.law(decided, '《中华人民共和国继承法》第十条、第十三条', '第一千一百二十七条、第一千一百三十条')}之规定，判决如下：",
        )
        operative = (
            f"一、被继承人{death.person.name}名下位于{flat}的房屋由原告{heir.name}继承所有；",
            f"二、原告{heir.name}于本判决生效之日起三十日内给付被告{other.name}房屋折价款{pay}元。",
            f"案件受理费{pay // 100 // 2 + 80}元，由原告{heir.name}、被告{other.name}各负担一半。",
        )
        doc = Document("判决书", "民事判决书", decided, body, operative, self.appeal_notice(court) + self.bench(decided))
        return self.add(court, "民初", "继承纠纷", filed, [_person(heir, "原告"), _person(other, "被告")], [doc], kind)

    def mediation(self, kind: str = "", court: str | None = None) -> CourtCase:
        """A house sale settled by mediation (民事调解书): the seller agrees to transfer."""
        court = court or self.court()
        buyer = self.adult()
        seller = self.adult(buyer)
        filed, decided = self.dates(2024)
        flat = self.flat(court)
        body = (f"原告{buyer.name}与被告{seller.name}房屋买卖合同纠纷一案，本院于{_ymd(filed)}立案。",
                "本案在审理过程中，经本院主持调解，双方当事人自愿达成如下协议：")
        operative = (f"一、被告{seller.name}于本调解书生效之日起三十日内协助原告{buyer.name}办理位于{flat}房屋"
                     f"（权属证书号：{self.certificate(court, 2019)}）的所有权转移登记手续；",
                     f"二、原告{buyer.name}于过户当日向被告{seller.name}支付剩余购房款{_money(self.rng, 50_000, 500_000)}元。",
                     "上述协议，符合有关法律规定，本院予以确认。本调解书经双方当事人签收后，即具有法律效力。")
        doc = Document("调解书", "民事调解书", decided, body, operative, self.bench(decided))
        return self.add(court, "民初", "房屋买卖合同纠纷", filed, [_person(buyer, "原告"), _person(seller, "被告")],
                        [doc], kind)

    def company_loan(self, company: Organization, court: str = "京0105") -> CourtCase:
        """A bank sues a company borrower for repayment (for seizures of a company's property)."""
        bank = self.rng.choice(self.banks)
        filed, decided = self.dates(2024)
        amount = _money(self.rng, 1_000_000, 9_000_000)
        body = (f"原告{bank.name}与被告{company.name}金融借款合同纠纷一案，本院立案后，依法适用普通程序，公开开庭进行了审理。",
                "本院认为，被告未按约还款，构成违约。依照《中华人民共和国民法典》第六百七十五条之规定，判决如下：")
        operative = (f"被告{company.name}于本判决生效之日起十日内偿还原告{bank.name}借款本金{amount}元及利息。",
                     f"案件受理费{amount // 200 + 100}元，由被告{company.name}负担。")
        doc = Document("判决书", "民事判决书", decided, body, operative, self.appeal_notice(court) + self.bench(decided))
        return self.add(court, "民初", "金融借款合同纠纷", filed,
                        [_organization(bank, "原告"), _organization(company, "被告")], [doc])

    def divorce_refused(self, kind: str = "") -> CourtCase | None:
        """A divorce suit the court refuses: the couple stays married, as the registry says."""
        ended = {(a.man.id_number, a.woman.id_number) for a in self.world.marriages if a.op_type in ("IB", "ID")}
        dead = self.world.deaths
        couples = [a for a in self.world.marriages if a.op_type == "IA" and (a.man.id_number, a.woman.id_number) not in ended
                   and a.man.id_number not in dead and a.woman.id_number not in dead
                   and a.man.kind == a.woman.kind == "resident" and a.registered_on < date(2022, 1, 1)]
        if not couples:
            return None
        act = self.rng.choice(couples)
        plaintiff, defendant = (act.woman, act.man) if self.rng.random() < 0.6 else (act.man, act.woman)
        court = self.court()
        filed, decided = self.dates(self.rng.randrange(max(act.registered_on.year + 1, 2009), 2026))
        body = (
            f"原告{plaintiff.name}与被告{defendant.name}离婚纠纷一案，本院立案后，依法适用简易程序，不公开开庭进行了审理。",
            f"本院认为，原、被告于{_ymd(act.registered_on)}登记结婚，婚后感情尚未完全破裂，仍有和好可能。依照"
            f"{self.law(decided, '《中华人民共和国婚姻法》第三十二条', '第一千零七十九条')}之规定，判决如下：",
        )
        operative = (f"不准许原告{plaintiff.name}与被告{defendant.name}离婚。", "案件受理费150元，由原告负担。")
        doc = Document("判决书", "民事判决书", decided, body, operative, self.appeal_notice(court) + self.bench(decided))
        return self.add(court, "民初", "离婚纠纷", filed, [_person(plaintiff, "原告"), _person(defendant, "被告")], [doc],
                        kind)

    def company_dispute(self) -> CourtCase:
        company = self.rng.choice(self.companies)
        buyer = self.adult()
        court = self.court()
        filed, decided = self.dates()
        amount = _money(self.rng, 200_000, 3_000_000)
        body = (
            f"原告{buyer.name}与被告{company.name}商品房预售合同纠纷一案，本院立案后，依法适用简易程序，公开开庭进行了审理。",
            f"本院认为，被告未按合同约定期限交付房屋，应承担违约责任。依照"
            f"{self.law(decided, '《中华人民共和国合同法》第一百一十四条', '第五百八十五条')}之规定，判决如下：",
        )
        operative = (f"一、被告{company.name}于本判决生效之日起十日内支付原告{buyer.name}逾期交房违约金{amount // 20}元；",
                     f"二、驳回原告{buyer.name}的其他诉讼请求。", f"案件受理费{amount // 2000 + 50}元，由被告负担。")
        doc = Document("判决书", "民事判决书", decided, body, operative, self.appeal_notice(court) + self.bench(decided))
        return self.add(court, "民初", "商品房预售合同纠纷", filed,
                        [_person(buyer, "原告"), _organization(company, "被告")], [doc])

    def appeal(self, first: CourtCase, kind: str = "") -> CourtCase:
        court = BASIC_COURTS[first.court_code][3]
        loser = next(p for p in first.parties if p.role == "被告")
        winner = next(p for p in first.parties if p.role == "原告")
        ruled = first.documents[0].decided_on
        filed = ruled + timedelta(days=self.rng.randrange(20, 60))
        decided = min(filed + timedelta(days=self.rng.randrange(30, 120)), TODAY - timedelta(days=1))
        body = (f"上诉人{loser.name}因与被上诉人{winner.name}{first.cause}一案，不服{first.court_name}"
                f"{first.case_number}民事判决，向本院提起上诉。本院依法组成合议庭进行了审理。",
                "本院认为，一审判决认定事实清楚，适用法律正确，应予维持。依照《中华人民共和国民事诉讼法》之规定，判决如下：")
        judge, second, third, clerk = self.rng.sample(self.judges, 4)
        doc = Document("判决书", "民事判决书", decided, body,
                       ("驳回上诉，维持原判。", f"二审案件受理费由上诉人{loser.name}负担。", "本判决为终审判决。"),
                       (f"审判长　{judge}", f"审判员　{second}", f"审判员　{third}", cn_date(decided), f"书记员　{clerk}"))
        parties = [replace(loser, role="上诉人"), replace(winner, role="被上诉人")]
        return self.add(court, "民终", first.cause, filed, parties, [doc], kind)


def generate(world: World) -> tuple[CourtCase, ...]:
    """The world's court cases: a fixed set of useful ones first, then a few hundred more."""
    b = _Builder(world)
    # The cases samples.json points at (created first, so they do not move when counts change).
    b.house_sale(2023, "sale", court="京0105")
    debtor = b.adult()
    creditor = b.adult(debtor)
    loan = b.private_loan(creditor, debtor, 2022, court="京0105", kind="debtor_loan")
    b.preservation(creditor, debtor, loan.filed_on, "京0105")
    b.seizure(loan, "seizure")
    b.seizure(b.bank_loan(debtor, 2023, court="京0105"), "debt_in_kind", debt_in_kind=True)
    b.house_sale(2014, "old_form", court="京0105")
    b.inheritance(2021, "pending")
    # The rest of the docket.
    count = min(max(250, len(world.persons) // 8), 5000)
    while len(b.cases) < count:
        roll = b.rng.random()
        if roll < 0.22:
            first = b.house_sale()
        elif roll < 0.42:
            first = b.private_loan()
        elif roll < 0.55:
            first = b.bank_loan()
        elif roll < 0.65:
            first = b.inheritance()
        elif roll < 0.75:
            first = b.divorce_refused()
        else:
            first = b.company_dispute()
        if first is None:
            continue
        follow = b.rng.random()
        if follow < 0.4 and first.cause in ("民间借贷纠纷", "金融借款合同纠纷"):
            b.seizure(first, debt_in_kind=b.rng.random() < 0.3, case_type=b.rng.choice(("执", "执", "执保")))
        elif follow < 0.5 and first.documents[0].decided_on < TODAY - timedelta(days=200):
            b.appeal(first)
    # Cases the case-check scenarios need, made last so that the docket above stays as it was.
    b.appeal(b.house_sale(2025, "appealed", court="京0105"), "appeal")
    b.mediation("mediation", court="京0105")
    b.divorce_refused("divorce_refused")
    revoked = next(o for o in world.organizations if o.status == "吊销")
    b.seizure(b.company_loan(revoked), "seizure_revoked_company")
    return tuple(b.cases)
