"""Case-check kinds: each kind declares, once, how it builds its query from a party (or from
the case), how it summarises its answer for the clerk, and which findings the answer gives.

`casecheck.py` runs whatever a plan names and `findings.py` holds the finding catalogue; no
per-kind branch lives anywhere else. Plans (plans.yaml) may only name kinds registered here.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from querynode.core.findings import CaseView, finding
from querynode.core.operations import registry
from querynode.domain import model as m
from querynode.domain.case import CaseParty, CheckResult, Finding
from querynode.domain.identifiers import same_person_name, same_resident_id
from querynode.domain.names import same_name
from querynode.security.masking import mask_id_number, mask_name


@dataclass(frozen=True)
class Kind:
    name: str
    # Whom the kind checks: a person party, an organisation party, or the case itself.
    subject: Literal["person", "organization", "case"]
    query: Callable[[Any], Any]  # (CaseParty | CaseRequest) -> query
    summary: Callable[[Any, str], str]  # (result, who) -> one line for the clerk
    findings: Callable[[CheckResult, CaseView], list[Finding]]
    # For case-level kinds: the CaseRequest field the kind needs, and what the clerk calls it.
    case_field: str = ""
    label: str = ""
    # What the check is called on the clerk's page and the printed record (身份核查 ...).
    title: str = "核查"
    # How a lookup's field names read in a case request (for error messages).
    field_names: dict[str, str] = field(default_factory=dict)
    # Further checks an answer calls for (e.g. the death of the spouse a marriage record
    # names): (kind name, whom it is about, query) triples, run after this check.
    follow_up: Callable[[Any], list[tuple[str, str, Any]]] | None = None
    # Whether an answer is only "not ready yet" (an asynchronous source): the check is PENDING.
    pending: Callable[[Any], bool] = lambda result: False
    # Kinds planned with this one for the same party (a second source of the same fact).
    also: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    if kind.name in KINDS:
        raise ValueError(f"check kind {kind.name} registered twice")
    KINDS[kind.name] = kind
    return kind


# ------------------------------------------------------------------ identity


def _identity_summary(r: m.IdentityResult, who: str) -> str:
    if r.verdict == m.IdentityVerdict.MATCH:
        return f"{who}：身份核查一致"
    if r.verdict == m.IdentityVerdict.NOT_FOUND:
        return f"{who}：无此身份号码记录"
    items = "、".join({"NAME": "姓名", "ID_NUMBER": "证件号码"}[i] for i in r.mismatched_items)
    return f"{who}：身份核查不一致（{items}）"


def _identity_findings(result: CheckResult, view: CaseView) -> list[Finding]:
    r, who, ids = result.answer.result, view.who(result.check), (result.check.check_id,)
    if r.verdict == m.IdentityVerdict.MISMATCH:
        return [finding("NAME_MISMATCH", ids, who=who)]
    if r.verdict == m.IdentityVerdict.NOT_FOUND:
        return [finding("ID_NOT_FOUND", ids, who=who)]
    return []


register(Kind(
    name="identity", title="身份核查", subject="person",
    query=lambda p: m.IdentityQuery(p.id_number, p.name),
    summary=_identity_summary, findings=_identity_findings,
))


# ------------------------------------------------------------------ death (卫健委) and cremation (民政部 殡葬)
# Two sources of deaths: the 卫健委 death certificate and the 民政部 cremation record. Either
# record makes a party deceased, and the finding names the source; only the 卫健委 can say "no
# death record" (not every death ends in a cremation). One of the two checks speaks for both:
# the death check when 卫健委 answered, else the cremation check.

DEATH_SOURCES = {"death": "卫健委死亡医学证明", "cremation": "民政部殡葬火化记录"}


def _death_summary(r: m.DeathResult, who: str) -> str:
    if r.record is None:
        return f"{who}：无死亡医学证明记录"
    return f"{who}：{r.record.died_on} 死亡（卫健委死亡医学证明）"


def _cremation_summary(r: Any, who: str) -> str:
    if not r.records:
        return f"{who}：无火化记录（不能证明在世）"
    c = r.records[-1]
    return f"{who}：{c.died_on} 死亡，{c.cremated_on} 火化（民政部殡葬火化记录）"


def _deceased(view: CaseView, index: int, about: str = "") -> tuple[str, str, tuple[str, ...]] | None:
    """(date of death, source, check ids) from the first source with a record; None if none has.
    `about` reads a follow-up (the spouse's death) instead of the party's own checks."""
    for r in view.done("death", index, about):
        if r.answer.result.record is not None:
            return r.answer.result.record.died_on, DEATH_SOURCES["death"], (r.check.check_id,)
    for r in view.done("cremation", index, about):
        if r.answer.result.records:
            return r.answer.result.records[-1].died_on, DEATH_SOURCES["cremation"], (r.check.check_id,)
    return None


def _life_findings(result: CheckResult, view: CaseView) -> list[Finding]:
    if result.check.about:  # a follow-up (the spouse's death): the kind that asked for it reads it
        return []
    index = result.check.party_index
    if result.check.kind == "cremation" and view.done("death", index):
        return []  # the death check speaks for both
    who, rule = view.who(result.check), view.role_plan(result.check).deceased
    died = _deceased(view, index)
    if died is None:
        if rule == "expected" and result.check.kind == "death":
            return [finding("DECEDENT_NO_DEATH_RECORD", (result.check.check_id,), who=who)]
        return []
    died_on, source, ids = died
    when = f"{died_on}（据{source}）"
    out = []
    if rule == "forbidden":
        out.append(finding("PARTY_DECEASED", ids, who=who, died_on=when))
    elif rule == "info":
        out.append(finding("HOLDER_DECEASED", ids, who=who, died_on=when))
    if view.identity_missing(index):
        out.append(finding("SOURCES_DISAGREE", ids,
                           detail=f"{who}：公安部无此身份号码记录，但有{source}，请人工核实。"))
    return out


register(Kind(
    name="death", title="死亡核查", subject="person",
    query=lambda p: m.DeathQuery(p.id_number, p.name),
    summary=_death_summary, findings=_life_findings, also=("cremation",),
))

register(Kind(
    name="cremation", title="火化核查", subject="person",
    query=lambda p: registry().operations["QueryCremation"].query_type(p.id_number, p.name),
    summary=_cremation_summary, findings=_life_findings,
))


# ------------------------------------------------------------------ marriage

MARITAL_TEXT = {
    m.MaritalStatus.NO_RECORD: "未查询到婚姻登记记录（不能证明未婚）", m.MaritalStatus.MARRIED: "已婚",
    m.MaritalStatus.DIVORCED: "离婚", m.MaritalStatus.ANNULLED: "婚姻已被撤销",
}
# Persons whose marriages the national data may not hold: residence permits and foreigners' cards.
PERMIT_DOCUMENTS = {"81": "港澳台居民居住证", "82": "港澳台居民居住证", "83": "港澳台居民居住证",
                    "9": "外国人永久居留身份证"}


def _marriage_summary(r: m.MarriageResult, who: str) -> str:
    spouse = f"，配偶 {mask_name(r.spouse_name)}" if r.status == m.MaritalStatus.MARRIED and r.spouse_name else ""
    return f"{who}：{MARITAL_TEXT[r.status]}{spouse}"


def _spouse_death(r: m.MarriageResult) -> list[tuple[str, str, Any]]:
    """A married person's spouse may have died since: the marriage record does not say. Both
    sources of deaths are asked, as for a party."""
    if r.status == m.MaritalStatus.MARRIED and r.spouse_id_number:
        return [(name, "spouse", KINDS[name].query(CaseParty(role="", name=r.spouse_name, id_number=r.spouse_id_number)))
                for name in ("death", *KINDS["death"].also)]
    return []


def _marriage_findings(result: CheckResult, view: CaseView) -> list[Finding]:
    r, who, ids = result.answer.result, view.who(result.check), (result.check.check_id,)
    index = result.check.party_index
    rule = view.role_plan(result.check).spouse
    out = []
    if r.status == m.MaritalStatus.MARRIED:
        spouse = mask_name(r.spouse_name) or "（未返回）"
        listed = view.is_party_id(r.spouse_id_number)
        died = _deceased(view, index, about="spouse")
        both = ids + tuple(d.check.check_id for k in ("death", *KINDS["death"].also)
                           for d in view.done(k, index, about="spouse"))
        if rule == "estate":
            if died is not None:
                decedent = _deceased(view, index)
                when = ("被继承人的死亡日期未能核实，死亡先后须人工核实" if decedent is None
                        else "先于被继承人死亡" if died[0] < decedent[0] else "在被继承人之后死亡")
                out.append(finding("ESTATE_SPOUSE_DECEASED", both, who=who, spouse=spouse,
                                   died_on=f"{died[0]}（据{died[1]}）", when=when))
            else:
                out.append(finding("SURVIVING_SPOUSE", both, who=who, spouse=spouse,
                                   spouse_id=mask_id_number(r.spouse_id_number),
                                   listed="已列为继承人。" if listed else "但未列为继承人，请核实。"))
        elif died is not None:
            if rule == "consent":
                out.append(finding("SPOUSE_DECEASED", both, who=who, spouse=spouse, died_on=f"{died[0]}（据{died[1]}）"))
        elif rule == "consent":
            out.append(finding("SPOUSE_IS_PARTY" if listed else "SPOUSE_CONSENT_NEEDED", both, who=who, spouse=spouse))
        else:
            out.append(finding("PARTY_MARRIED", both, who=who, spouse=spouse))
    elif r.status == m.MaritalStatus.NO_RECORD and not view.is_minor(index):
        id_number = view.party(index).id_number
        document = PERMIT_DOCUMENTS.get(id_number[:2]) or PERMIT_DOCUMENTS.get(id_number[:1])
        if document:
            out.append(finding("MARRIAGE_NOT_IN_NATIONAL_DATA", ids, who=who, document=document))
        else:
            out.append(finding("MARRIAGE_NO_RECORD", ids, who=who))
    if r.records and view.identity_missing(index):
        out.append(finding("SOURCES_DISAGREE", ids,
                           detail=f"{who}：公安部无此身份号码记录，但民政部有婚姻登记记录，请人工核实。"))
    return out


register(Kind(
    name="marriage", title="婚姻核查", subject="person",
    query=lambda p: m.MarriageQuery(p.id_number, p.name),
    summary=_marriage_summary, findings=_marriage_findings, follow_up=_spouse_death,
))


# ------------------------------------------------------------------ organisation

ORG_STATUS_TEXT = {
    m.OrganizationStatus.ACTIVE: "存续", m.OrganizationStatus.REVOKED: "吊销", m.OrganizationStatus.CANCELLED: "注销",
}


@dataclass(frozen=True)
class NoOnlineSource:
    """A check no department can answer online: the clerk verifies by hand, for `reason`.
    `query` is the lookup it would have been, validated like any other (a malformed code is
    still refused)."""

    query: Any
    reason: str


# Registration authority (GB 32100, first character of a credit code) -> the operation of the
# register that answers online for it (declared in connectors/<name>/declaration.py).
REGISTERS = {"1": "LookupOrgan", "5": "LookupSocialOrganization", "9": "LookupOrganization"}
# The authorities with no online register, as GB 32100 names them.
OFFLINE_AUTHORITIES = {
    "2": "外交", "3": "司法行政", "4": "文化", "6": "旅游", "7": "宗教", "8": "工会",
    "A": "中央军委改革和编制办公室", "N": "农业农村", "Y": "其他",
}


def _organization_query(p: CaseParty) -> Any:
    if not p.credit_code:  # by name: the enterprise register, the only one that searches names
        return m.OrganizationQuery(name=p.organization_name or None)
    authority = p.credit_code.strip()[:1].upper()
    if authority in REGISTERS:
        return registry().operations[REGISTERS[authority]].query_type(credit_code=p.credit_code)
    who = OFFLINE_AUTHORITIES.get(authority, "该")
    return NoOnlineSource(m.OrganizationQuery(credit_code=p.credit_code),
                          f"统一社会信用代码首位为 {authority}（{who}部门登记），该登记管理部门无联网核验渠道，"
                          f"须人工核验其登记证书原件")


def _organization_summary(r: m.OrganizationResult, who: str) -> str:
    if not r.organizations:
        return f"{who}：未查到登记主体"
    org = r.organizations[0]
    return f"{who}：{org.name}，{ORG_STATUS_TEXT[org.status]}"


def _organization_findings(result: CheckResult, view: CaseView) -> list[Finding]:
    r, who, ids = result.answer.result, view.who(result.check), (result.check.check_id,)
    party = view.party(result.check.party_index)
    if not r.organizations:
        return [finding("ORG_NOT_FOUND", ids, who=who)]
    org, out = r.organizations[0], []
    # A registration the court orders (查封) is carried out whatever the company's state.
    court_ordered = "_COURT_ORDERED" if view.role_plan(result.check).court_ordered else ""
    if org.status == m.OrganizationStatus.REVOKED:
        out.append(finding("ORG_REVOKED" + court_ordered, ids, who=who))
    elif org.status == m.OrganizationStatus.CANCELLED:
        out.append(finding("ORG_CANCELLED" + court_ordered, ids, who=who))
    if party.organization_name and party.credit_code and not same_name(party.organization_name, org.name):
        out.append(finding("ORG_NAME_MISMATCH", ids, given=party.organization_name, registered=org.name))
    registered = org.legal_representative
    for i, rep in view.parties_in_role("legal_representative"):
        if rep.name and registered and not same_person_name(rep.name, registered):
            out.append(finding("LEGAL_REPRESENTATIVE_DIFFERS", ids, who=view.labels[i], registered=mask_name(registered)))
    return out


register(Kind(
    name="organization", title="主体核查", subject="organization",
    query=_organization_query, summary=_organization_summary, findings=_organization_findings,
    field_names={"name": "organization_name", "credit_code|name": "credit_code|organization_name"},
))


# ------------------------------------------------------------------ financial licence


def _license_query(p: CaseParty) -> m.LicenseQuery | NoOnlineSource:
    if p.license_code:
        return m.LicenseQuery(license_code=p.license_code)
    # 金融许可证查询 (YB01) is asked by 机构编码 only: without one, a person checks the licence.
    return NoOnlineSource(m.LicenseQuery(institution_name=p.organization_name or None),
                          "金融许可证查询只能按机构编码查询，未提交机构编码，请人工核验其是否持有金融许可证")


def _license_summary(r: m.LicenseResult, who: str) -> str:
    if not r.licenses:
        return f"{who}：未查到金融许可证"
    lic = r.licenses[0]
    return f"{who}：金融许可证 {lic.license_code}（{lic.institution_name}）{'有效' if lic.valid else '已失效'}"


def _license_findings(result: CheckResult, view: CaseView) -> list[Finding]:
    r, who, ids = result.answer.result, view.who(result.check), (result.check.check_id,)
    party = view.party(result.check.party_index)
    if not r.licenses:  # asked by licence code only (a party without one is left to a person)
        return [finding("LICENSE_NOT_FOUND", ids, who=who, reason="提交了金融许可证机构编码")]
    lic, out = r.licenses[0], []
    if not lic.valid:
        out.append(finding("LICENSE_INVALID", ids, who=who, license_code=lic.license_code))
    if party.organization_name and not same_name(lic.institution_name, party.organization_name):
        out.append(finding("LICENSE_NAME_MISMATCH", ids, licensed=lic.institution_name, given=party.organization_name))
    for org_check in view.done("organization", result.check.party_index):
        orgs = org_check.answer.result.organizations
        if orgs and lic.credit_code and lic.credit_code != orgs[0].credit_code:
            out.append(finding("SOURCES_DISAGREE", ids + (org_check.check.check_id,),
                               detail=f"{who}：金融许可证记载的统一社会信用代码与市场监管登记不一致。"))
    return out


register(Kind(
    name="license", title="金融许可证核查", subject="organization",
    query=_license_query, summary=_license_summary, findings=_license_findings,
    field_names={"institution_name": "organization_name",
                 "license_code|institution_name": "license_code|organization_name"},
))


# ------------------------------------------------------------------ court documents


def _judgment_summary(r: m.JudgmentResult, who: str) -> str:
    if not r.judgments:
        return f"{who}：未查到该案号的裁判文书"
    j = r.judgments[0]
    return f"{who}：{j.court} {j.case_number} {j.cause}（{j.decided_on}）"


# Later instances of the same matter: after them the cited document may not stand.
LATER_INSTANCES = {"民终": "二审", "民再": "再审", "民申": "再审审查"}
DOCUMENT_TYPES = ("判决书", "裁定书", "调解书")
# What the operative part must do for the registration type (plans.yaml: judgment_effect).
EFFECTS = {
    "transfer": (re.compile(r"转移登记|过户|归.{0,30}所有|继承所有|抵偿|所有权.{0,12}转移"),
                 "处分该不动产物权（过户、确认归属或以物抵债）"),
    "seizure": (re.compile(r"查封|解封"), "裁定查封或解除查封不动产"),
}


def _judgment_findings(result: CheckResult, view: CaseView) -> list[Finding]:
    """The court document as a registration basis: the number asked, its type, whether a later
    instance exists, whether its operative part does what the registration needs, and whether
    the parties stand in it where the registration puts them."""
    r, ids = result.answer.result, (result.check.check_id,)
    asked = result.check.query.case_number
    if not r.judgments:
        return [finding("JUDGMENT_NOT_FOUND", ids, case_number=asked)]
    own = [j for j in r.judgments if j.case_number == asked]
    if not own:
        return [finding("JUDGMENT_CASE_NUMBER_DIFFERS", ids, case_number=asked)]
    out = []
    if not any(j.document_type in DOCUMENT_TYPES for j in own):
        out.append(finding("JUDGMENT_DOCUMENT_TYPE", ids, case_number=asked, document_type=own[-1].document_type))
    for later in r.judgments:
        instance = next((label for code, label in LATER_INSTANCES.items() if code in later.case_number), "")
        if later.case_number != asked and instance:
            out.append(finding("JUDGMENT_APPEALED", ids, case_number=asked, instance=instance,
                               later=later.case_number))
            break
    effect = view.type_plan.judgment_effect
    if effect and not any(EFFECTS[effect][0].search(j.operative_text) for j in own):
        out.append(finding("JUDGMENT_NO_PROPERTY_EFFECT", ids, case_number=asked, effect=EFFECTS[effect][1],
                           registration=view.type_plan.label))
    named = view.request.property_unit or view.request.property_address
    if named and not any(_compact(named) in _compact(j.operative_text) for j in own):
        out.append(finding("JUDGMENT_PROPERTY_NOT_NAMED", ids, case_number=asked, property=named))
    litigants = {p for j in own for p in j.parties}
    missing = []
    for i, party in enumerate(view.request.parties):
        name = party.name if party.is_person else party.organization_name
        if not name:
            continue
        found = next((p for p in litigants if _same_litigant(party, p)), None)
        if found is None:
            missing.append(view.labels[i])
            continue
        expected = view.type_plan.roles[party.role].court_roles
        if expected and found.role not in expected:
            out.append(finding("JUDGMENT_ROLE_MISMATCH", ids, who=view.labels[i], court_role=found.role,
                               expected="、".join(expected)))
    if missing:
        out.append(finding("JUDGMENT_PARTIES_DIFFER", ids, who="、".join(missing)))
    return out


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _same_litigant(party: CaseParty, litigant: m.Party) -> bool:
    if party.is_person:
        if party.id_number and litigant.id_number:
            return same_resident_id(party.id_number, litigant.id_number)
        return same_person_name(party.name, litigant.name)
    return same_name(party.organization_name, litigant.name)


register(Kind(
    name="judgment", title="裁判文书核查", subject="case", case_field="judgment_case_number", label="裁判文书",
    query=lambda request: m.JudgmentQuery(case_number=request.judgment_case_number),
    summary=_judgment_summary, findings=_judgment_findings, pending=lambda r: r.pending,
))


# ------------------------------------------------------------------ place names


def _place_summary(r: m.PlaceNameResult, who: str) -> str:
    if not r.places:
        return f"{who}：未查到标准地名"
    p = r.places[0]
    return f"{who}：{p.name}（{p.division_name or p.place_type or p.division_code}）"


def _place_findings(result: CheckResult, view: CaseView) -> list[Finding]:
    if result.answer.result.places:
        return []
    return [finding("PLACE_NAME_NOT_FOUND", (result.check.check_id,), name=view.request.place_name)]


register(Kind(
    name="place_name", title="地名核查", subject="case", case_field="place_name", label="地名",
    query=lambda request: m.PlaceNameQuery(name=request.place_name),
    summary=_place_summary, findings=_place_findings,
))

