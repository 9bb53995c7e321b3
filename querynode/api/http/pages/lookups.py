"""The seven lookup forms: their fields, the domain query each builds, and how its answer is
shown. Personal data is masked here, on the server: the page never receives a full name or
ID number, not even the ones the clerk typed (the form comes back empty)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from querynode.api.http.pages.present import Badge, lookup_badges, lookup_warnings, mask_names_in_text
from querynode.domain import model as m
from querynode.security.masking import mask_id_number, mask_name


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    required: bool = False
    hint: str = ""
    checkbox: bool = False
    maxlength: int = 100


@dataclass(frozen=True)
class Row:
    label: str
    value: str


@dataclass(frozen=True)
class Card:
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Shown:
    """One answer as the page shows it."""

    badges: tuple[Badge, ...]
    subject: str
    cards: tuple[Card, ...]
    department: str
    source_time: Any
    audit_id: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lookup:
    slug: str
    title: str
    department: m.Department
    fields: tuple[Field, ...]
    build: Callable[[Mapping[str, str]], Any]
    subject: Callable[[Any], str]
    cards: Callable[[Any], list[Card]]
    note: str = ""
    field_labels: dict[str, str] = field(default_factory=dict)


def _opt(form: Mapping[str, str], name: str) -> str | None:
    return form.get(name, "").strip() or None


def _person(query: Any) -> str:
    return f"{mask_name(query.name)}　{mask_id_number(query.id_number)}"


_ORGANISATION_MARKERS = ("公司", "银行", "法院", "中心", "集团", "委员会", "合作社", "企业", "政府", "局", "厂", "院", "所", "社", "行")


def _party_name(name: str) -> str:
    """Organisations are public; people are masked."""
    return name if any(marker in name for marker in _ORGANISATION_MARKERS) else mask_name(name)


def _masked_id(value: str) -> str:
    return mask_id_number(value) if value else "—"


# -- cards per result type

def _identity_cards(r: m.IdentityResult) -> list[Card]:
    if r.mismatched_items:
        items = "、".join({"NAME": "姓名", "ID_NUMBER": "证件号码"}[i.value] for i in r.mismatched_items)
        return [Card("核查结果", (Row("不一致项", items),))]
    return []


def _organization_cards(r: m.OrganizationResult) -> list[Card]:
    return [Card(o.name, (
        Row("统一社会信用代码", o.credit_code), Row("登记状态", o.status_text or o.status.value),
        Row("法定代表人", mask_name(o.legal_representative)), Row("类型", o.org_type),
        Row("住所", o.domicile), Row("注册资本", o.registered_capital), Row("成立日期", o.established_on),
        Row("登记机关", o.issuing_office),
    )) for o in r.organizations]


def _license_cards(r: m.LicenseResult) -> list[Card]:
    return [Card(lic.institution_name, (
        Row("机构编码", lic.license_code), Row("许可证流水号", lic.serial_number),
        Row("状态", "有效" if lic.valid else "无效"), Row("机构类型", lic.institution_type),
        Row("住所", lic.address), Row("业务范围", lic.scope), Row("发证机关", lic.issuing_office),
        Row("批准日期", lic.approved_on), Row("发证日期", lic.issued_on),
    )) for lic in r.licenses]


def _judgment_cards(r: m.JudgmentResult) -> list[Card]:
    cards = []
    for j in r.judgments:
        text = j.operative_text
        for p in j.parties:  # the text names the parties: mask them there too
            if p.name:
                text = text.replace(p.name, _party_name(p.name))
            if p.id_number:
                text = text.replace(p.id_number, mask_id_number(p.id_number))
        text = mask_names_in_text(text)  # people the text names who are not parties (被继承人…)
        parties = "；".join(f"{p.role}：{_party_name(p.name)}" for p in j.parties)
        cards.append(Card(j.case_number, (
            Row("法院", j.court), Row("案由", j.cause), Row("裁判日期", j.decided_on),
            Row("文书类型", j.document_type), Row("当事人", parties), Row("裁判主文", text),
        )))
    return cards


_MARITAL = {"NO_RECORD": "无婚姻登记记录", "MARRIED": "已婚", "DIVORCED": "离婚", "ANNULLED": "婚姻被撤销/无效"}
_ACTS = {"IA": "结婚登记", "IB": "离婚登记", "IC": "补领证件", "ICA": "补领结婚证", "ICB": "补领离婚证", "ID": "撤销婚姻"}


def _marriage_cards(r: m.MarriageResult) -> list[Card]:
    rows = [Row("当前婚姻状况", _MARITAL[r.status.value])]
    if r.spouse_name:
        rows.append(Row("配偶", f"{mask_name(r.spouse_name)}　{_masked_id(r.spouse_id_number)}"))
    cards = [Card("婚姻状况", tuple(rows))]
    for rec in r.records:
        cards.append(Card(f"{_ACTS.get(rec.act.value, rec.act.value)}　{rec.registered_on}", (
            Row("登记机关", f"{rec.office_name}（{rec.office_code}）"), Row("证书编号", rec.certificate_number),
            Row("当事人", f"{mask_name(rec.party_name)}　{_masked_id(rec.party_id_number)}"),
            Row("配偶", f"{mask_name(rec.spouse_name)}　{_masked_id(rec.spouse_id_number)}"),
        )))
    return cards


def _place_cards(r: m.PlaceNameResult) -> list[Card]:
    return [Card(p.name, (
        Row("罗马字母拼写", p.roman), Row("类别", f"{p.place_type}（{p.place_type_code}）"), Row("地名代码", p.code),
        Row("行政区划", f"{p.division_name}（{p.division_code}）"), Row("坐标", f"{p.longitude:.5f}, {p.latitude:.5f}"),
        Row("含义", p.meaning or "—"), Row("历史沿革", "；".join(p.history) or "—"),
    )) for p in r.places]


def _death_cards(r: m.DeathResult) -> list[Card]:
    if r.record is None:
        return []
    d = r.record
    number = mask_id_number(d.certificate_number) if len(d.certificate_number) == 18 else d.certificate_number
    return [Card("死亡医学证明", (
        Row("死亡日期", d.died_on), Row("证明编号", number), Row("签发机构", d.issuer), Row("死因代码", d.cause_code),
    ))]


_PERSON_FIELDS = (Field("name", "姓名", required=True, maxlength=60),
                  Field("id_number", "公民身份号码", required=True, hint="18 位，末位可为 X", maxlength=18))

LOOKUPS: dict[str, Lookup] = {lk.slug: lk for lk in (
    Lookup("identity", "身份核验", m.Department.IDENTITY, _PERSON_FIELDS,
           lambda f: m.IdentityQuery(id_number=f.get("id_number", "").strip(), name=f.get("name", "").strip()),
           _person, _identity_cards),
    Lookup("organization", "统一社会信用代码", m.Department.CREDIT_CODE,
           (Field("credit_code", "统一社会信用代码", hint="18 位；与名称二选一", maxlength=18),
            Field("name", "单位名称", hint="与代码二选一", maxlength=200)),
           lambda f: m.OrganizationQuery(credit_code=_opt(f, "credit_code"), name=_opt(f, "name")),
           lambda q: q.credit_code or q.name, _organization_cards),
    Lookup("license", "金融许可证", m.Department.FINANCIAL_LICENSE,
           (Field("license_code", "机构编码", hint="15 位，如 B0001H111000001；与名称二选一", maxlength=15),
            Field("institution_name", "机构名称", hint="与编码二选一", maxlength=200)),
           lambda f: m.LicenseQuery(license_code=_opt(f, "license_code"), institution_name=_opt(f, "institution_name")),
           lambda q: q.license_code or q.institution_name, _license_cards),
    Lookup("judgment", "司法判决", m.Department.COURT,
           (Field("case_number", "案号", hint="如（2023）京0105民初1234号；与当事人二选一", maxlength=64),
            Field("party_name", "当事人名称", hint="与案号二选一", maxlength=200)),
           lambda f: m.JudgmentQuery(case_number=_opt(f, "case_number"), party_name=_opt(f, "party_name")),
           lambda q: q.case_number or _party_name(q.party_name or ""), _judgment_cards,
           field_labels={"case_number|party_name": "案号或当事人"}),
    Lookup("marriage", "婚姻登记", m.Department.MARRIAGE,
           _PERSON_FIELDS + (Field("spouse_name", "配偶姓名", hint="选填：核对两人是否互为配偶", maxlength=60),
                             Field("spouse_id_number", "配偶公民身份号码", hint="选填", maxlength=18)),
           lambda f: m.MarriageQuery(id_number=f.get("id_number", "").strip(), name=f.get("name", "").strip(),
                                     spouse_id_number=_opt(f, "spouse_id_number"), spouse_name=_opt(f, "spouse_name")),
           _person, _marriage_cards),
    Lookup("place-name", "标准地名", m.Department.PLACE_NAME,
           (Field("name", "地名", hint="与区划代码二选一", maxlength=100),
            Field("division_code", "行政区划代码", hint="6 位", maxlength=12),
            Field("prefix", "按前缀匹配", checkbox=True)),
           lambda f: m.PlaceNameQuery(name=_opt(f, "name"), division_code=_opt(f, "division_code"),
                                      prefix=f.get("prefix") == "on"),
           lambda q: q.name or q.division_code, _place_cards),
    Lookup("death", "死亡医学证明", m.Department.DEATH, _PERSON_FIELDS,
           lambda f: m.DeathQuery(id_number=f.get("id_number", "").strip(), name=f.get("name", "").strip()),
           _person, _death_cards),
)}

def show(lookup: Lookup, query: Any, answer: m.Answer) -> Shown:
    """Turn an answer into what the page shows: badges, masked subject, cards, provenance."""
    p = answer.provenance
    cards = lookup.cards(answer.result) if answer.result is not None else []
    return Shown(badges=tuple(lookup_badges(query, answer)), subject=lookup.subject(query), cards=tuple(cards),
                 department=m.DEPARTMENT_NAMES_ZH[p.department], source_time=p.source_time,
                 audit_id=p.audit_id, warnings=tuple(lookup_warnings(answer)))
