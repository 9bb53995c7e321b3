"""What the clerk reads: the catalogue of findings (code, severity, Chinese text) and the view
of a case that each check kind's findings are computed from (kinds.py).

Every sentence is plain Chinese with personal data masked (surname + *, ID 6+4). The
catalogue is the code side of docs/case-rules.md: a test keeps the two equal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from querynode.domain.case import CaseParty, CaseRequest, CheckResult, CheckStatus, Finding, PlannedCheck, Severity
from querynode.domain.errors import InvalidArgument
from querynode.domain.identifiers import resident_id, same_resident_id
from querynode.domain.model import IdentityVerdict
from querynode.security.masking import mask_name

if TYPE_CHECKING:
    from querynode.core.plans import RolePlan, TypePlan

B, W, I = Severity.BLOCKING, Severity.WARNING, Severity.INFO

# code -> (severity, text template). Templates take keyword fields, all masked already.
CATALOGUE: dict[str, tuple[Severity, str]] = {
    # identity (公安部)
    "NAME_MISMATCH": (B, "{who} 的姓名与身份证号码不一致，请核对身份证件。"),
    "ID_NOT_FOUND": (B, "{who} 的身份证号码在公安部无匹配记录，请核对证件。"),
    # death (卫健委)
    "PARTY_DECEASED": (B, "{who} 已于 {died_on} 死亡，不能作为申请人签字，应按继承程序办理。"),
    "DECEDENT_NO_DEATH_RECORD": (B, "{who} 无死亡医学证明记录，请申请人提交死亡证明或核实被继承人信息。"),
    "HOLDER_DECEASED": (I, "{who} 已于 {died_on} 死亡，本登记应由其继承人或其他利害关系人申请，请核验申请人身份。"),
    # marriage (民政部)
    "SPOUSE_CONSENT_NEEDED": (W, "{who} 已婚（配偶 {spouse}），房屋可能为夫妻共同财产，需配偶书面同意或共同申请。"),
    "SPOUSE_IS_PARTY": (I, "{who} 的配偶 {spouse} 已作为当事人参与。"),
    "SPOUSE_DECEASED": (W, "{who} 的配偶 {spouse} 已于 {died_on} 死亡：房屋如为夫妻共同财产，配偶的份额属于遗产，"
                           "须先办理继承或由全部继承人共同处分，不能以配偶同意代替，请核实。"),
    "PARTY_MARRIED": (I, "{who} 已婚（配偶 {spouse}），可按约定登记为共同共有。"),
    "SURVIVING_SPOUSE": (W, "{who} 死亡时处于已婚状态，配偶 {spouse}（{spouse_id}）对夫妻共同财产享有一半份额"
                            "并为第一顺序继承人，{listed}"),
    "ESTATE_SPOUSE_DECEASED": (W, "{who} 的配偶 {spouse} 已于 {died_on} 死亡（{when}），配偶不再作为继承人分得份额；"
                                  "夫妻共同财产中配偶的一半须按其本人的继承办理，请核实继承人范围。"),
    "MARRIAGE_NO_RECORD": (I, "{who}：未查询到婚姻登记记录（不能证明未婚）。全国婚姻登记数据可能不含较早登记或以护照、"
                              "通行证登记的婚姻，请申请人提交书面婚姻状况声明（单身声明）。"),
    "MARRIAGE_NOT_IN_NATIONAL_DATA": (I, "{who} 持{document}，其婚姻可能在境外或以其他证件登记，不在全国婚姻登记数据中，"
                                         "请提交婚姻状况证明或书面声明。"),
    # any person (from the ID number and the role)
    "MINOR_PARTY": (W, "{who} 按身份证号码计算在本案办理之日为 {age} 周岁，未成年，应由监护人代为申请并提交监护关系证明；"
                       "处分其不动产须为其利益，请核实。"),
    "AGENT_AUTHORIZATION": (W, "{who} 代为申请，请核验经公证的授权委托书（载明委托事项和权限）或监护关系证明。"),
    # organisation (市场监管总局等登记机关)
    "ORG_NOT_FOUND": (B, "{who} 在登记机关无记录，请核对统一社会信用代码。"),
    "ORG_REVOKED": (B, "{who} 营业执照已被吊销，不能以其名义正常办理，处分财产须由清算组依法进行，请核实清算组备案和授权。"),
    "ORG_CANCELLED": (B, "{who} 已注销，主体资格已终止。"),
    "ORG_REVOKED_COURT_ORDERED": (I, "{who} 营业执照已被吊销；本登记系协助人民法院执行，应予办理，登簿时请注明。"),
    "ORG_CANCELLED_COURT_ORDERED": (W, "{who} 已注销；本登记系协助人民法院执行，请与执行法院核实被执行人主体情况。"),
    "ORG_NAME_MISMATCH": (W, "申请材料中的名称“{given}”与登记名称“{registered}”不一致。"),
    "LEGAL_REPRESENTATIVE_DIFFERS": (W, "{who} 与登记机关记载的法定代表人 {registered} 不一致，请核实授权。"),
    # financial licence (金融监管总局)
    "LICENSE_NOT_FOUND": (W, "{who} 以持牌金融机构身份申请（{reason}），但未查到其金融许可证，请核实机构身份和许可证。"),
    "LICENSE_INVALID": (W, "{who} 的金融许可证 {license_code} 已失效，不能以金融机构身份办理贷款抵押，请核实。"),
    "LICENSE_NAME_MISMATCH": (W, "金融许可证上的机构名称“{licensed}”与抵押权人“{given}”不一致。"),
    # court documents (最高人民法院)
    "JUDGMENT_NOT_FOUND": (B, "未查到案号 {case_number} 的裁判文书，请核实生效法律文书。"),
    "JUDGMENT_CASE_NUMBER_DIFFERS": (B, "法院返回的文书案号与申请所引案号 {case_number} 不一致，请人工核对生效法律文书原件。"),
    "JUDGMENT_DOCUMENT_TYPE": (W, "案号 {case_number} 的文书为{document_type}，不是判决书、裁定书或调解书，请人工核对据以登记的法律文书。"),
    "JUDGMENT_APPEALED": (W, "案号 {case_number} 的文书之后另有{instance}（{later}），该文书可能未生效或已被变更，"
                             "请核对{instance}文书和生效证明。"),
    "JUDGMENT_NO_PROPERTY_EFFECT": (B, "案号 {case_number} 的文书主文未{effect}，不能据以办理{registration}，请人工核对文书主文。"),
    "JUDGMENT_PROPERTY_NOT_NAMED": (W, "案号 {case_number} 的文书主文未载明申请登记的不动产（{property}），请人工核对不动产坐落或单元号。"),
    "JUDGMENT_ROLE_MISMATCH": (W, "{who} 在文书中为{court_role}，与其在本登记中的身份不符（应为{expected}），"
                                  "请核对主文确定的权利人和义务人。"),
    "JUDGMENT_PARTIES_DIFFER": (W, "裁判文书的当事人与申请人不一致：{who} 不在文书当事人之中，请核对。"),
    # place names (民政部地名)
    "PLACE_NAME_NOT_FOUND": (W, "地名“{name}”不是标准地名，请核实。"),
    # several sources
    "SOURCES_DISAGREE": (W, "{detail}"),
}
ORDER = {B: 0, W: 1, I: 2}


def finding(code: str, check_ids: tuple[str, ...], **fields: str) -> Finding:
    severity, template = CATALOGUE[code]
    return Finding(code, severity, template.format(**fields), check_ids)


def party_label(request: CaseRequest, role_labels: dict[str, str], index: int) -> str:
    party = request.parties[index]
    who = mask_name(party.name) if party.is_person else (party.organization_name or party.credit_code)
    return f"{role_labels.get(party.role, party.role)} {who}".strip()


ABOUT = {"spouse": "的配偶"}


def summary(result: CheckResult, kind, who: str, source: str) -> str:
    """One line for the clerk about one finished check (kind: its kinds.Kind; source: the
    department's Chinese name). Never the department's or the connector's own text."""
    if result.status == CheckStatus.PENDING:
        return f"{who}：{source}尚未返回查询结果，返回后自动补全本记录"
    answer = result.answer
    if answer is None or answer.result is None:
        return f"{who}：{source}暂时无法查询"
    line = kind.summary(answer.result, who)
    if result.status == CheckStatus.STALE:
        minutes = max(1, round(answer.provenance.cache_age_seconds / 60))
        line += f"（{source}暂时无法查询，此为 {minutes} 分钟前的缓存结果，须重新核验）"
    return line


@dataclass
class CaseView:
    """What a kind's findings may look at: the case, its plan, the party labels, the case
    date and every check answered so far."""

    request: CaseRequest
    type_plan: TypePlan
    labels: dict[int, str]
    results: list[CheckResult]
    case_labels: dict[str, str]
    today: date
    input_warnings: list[str] = field(default_factory=list)  # what normalising the input changed

    def who(self, check: PlannedCheck) -> str:
        if check.party_index < 0:
            return self.case_labels.get(check.kind, check.kind)
        return self.labels[check.party_index] + ABOUT.get(check.about, "")

    def party(self, index: int) -> CaseParty:
        return self.request.parties[index]

    def role_plan(self, check: PlannedCheck) -> RolePlan:
        return self.type_plan.roles[check.role]

    def parties_in_role(self, role: str) -> list[tuple[int, CaseParty]]:
        return [(i, p) for i, p in enumerate(self.request.parties) if p.role == role]

    def is_party_id(self, id_number: str) -> bool:
        """Whether a person of the case has this ID number, compared normalised."""
        return any(p.is_person and same_resident_id(p.id_number, id_number) for p in self.request.parties)

    def done(self, kind: str, party_index: int | None = None, about: str = "") -> list[CheckResult]:
        """Answered checks of a kind (of one party, when given; about the party itself unless
        `about` names a follow-up such as the spouse)."""
        return [r for r in self.results
                if r.check.kind == kind and r.check.about == about
                and (party_index is None or r.check.party_index == party_index)
                and r.answer is not None and r.answer.result is not None and r.status != CheckStatus.PENDING]

    def identity_missing(self, party_index: int) -> bool:
        return any(r.answer.result.verdict == IdentityVerdict.NOT_FOUND for r in self.done("identity", party_index))

    def age(self, party_index: int) -> int | None:
        """Full years at the case date, from the birth date in the ID number (GB 11643)."""
        party = self.party(party_index)
        if not party.is_person or not party.id_number:
            return None
        try:
            number = resident_id(party.id_number)[0]
            born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        except (InvalidArgument, ValueError):
            return None
        return self.today.year - born.year - ((self.today.month, self.today.day) < (born.month, born.day))

    def is_minor(self, party_index: int) -> bool:
        age = self.age(party_index)
        return age is not None and age < 18


def party_findings(view: CaseView) -> list[Finding]:
    """Findings about a party that no department answers: age from the ID number, and agents."""
    out = []
    for i, party in enumerate(view.request.parties):
        ids = tuple(r.check.check_id for r in view.results if r.check.party_index == i and r.check.kind == "identity")
        if view.type_plan.roles[party.role].agent:
            out.append(finding("AGENT_AUTHORIZATION", ids, who=view.labels[i]))
        if view.is_minor(i):
            out.append(finding("MINOR_PARTY", ids, who=view.labels[i], age=str(view.age(i))))
    return out


def ordered(found: list[Finding]) -> list[Finding]:
    """Blockers first, then warnings, then notes (stable within each)."""
    return sorted(found, key=lambda x: ORDER[x.severity])
