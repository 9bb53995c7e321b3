"""What the clerk reads: the catalogue of findings (code, severity, Chinese text) and the view
of a case that each check kind's findings are computed from (kinds.py).

Every sentence is plain Chinese with personal data masked (surname + *, ID 6+4). The
catalogue is the code side of docs/case-rules.md: a test keeps the two equal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from querynode.domain.case import CaseParty, CaseRequest, CheckResult, CheckStatus, Finding, PlannedCheck, Severity
from querynode.security.masking import mask_name

if TYPE_CHECKING:
    from querynode.core.plans import RolePlan, TypePlan

B, W, I = Severity.BLOCKING, Severity.WARNING, Severity.INFO

# code -> (severity, text template). Templates take keyword fields, all masked already.
CATALOGUE: dict[str, tuple[Severity, str]] = {
    "NAME_MISMATCH": (B, "{who} 的姓名与身份证号码不一致，请核对身份证件。"),
    "ID_NOT_FOUND": (B, "{who} 的身份证号码在公安部无匹配记录，请核对证件。"),
    "DECEDENT_NO_DEATH_RECORD": (B, "{who} 无死亡医学证明记录，请申请人提交死亡证明或核实被继承人信息。"),
    "PARTY_DECEASED": (B, "{who} 已于 {died_on} 死亡，不能作为申请人签字，应按继承程序办理。"),
    "SURVIVING_SPOUSE": (W, "{who} 死亡时处于已婚状态，配偶 {spouse}（{spouse_id}）对夫妻共同财产享有一半份额"
                            "并为第一顺序继承人，{listed}"),
    "SPOUSE_IS_PARTY": (I, "{who} 的配偶 {spouse} 已作为当事人参与。"),
    "SPOUSE_CONSENT_NEEDED": (W, "{who} 已婚（配偶 {spouse}），房屋可能为夫妻共同财产，需配偶书面同意或共同申请。"),
    "PARTY_MARRIED": (I, "{who} 已婚（配偶 {spouse}），可按约定登记为共同共有。"),
    "ORG_NOT_FOUND": (B, "{who} 在登记机关无记录，请核对统一社会信用代码。"),
    "ORG_REVOKED": (B, "{who} 营业执照已被吊销，不能办理该登记。"),
    "ORG_CANCELLED": (B, "{who} 已注销，主体资格已终止。"),
    "ORG_NAME_MISMATCH": (W, "申请材料中的名称“{given}”与登记名称“{registered}”不一致。"),
    "LEGAL_REPRESENTATIVE_DIFFERS": (W, "{who} 与登记机关记载的法定代表人 {registered} 不一致，请核实授权。"),
    "LENDER_UNLICENSED": (B, "{who} 未查到金融许可证，不是持牌金融机构，不能作为抵押权人办理贷款抵押。"),
    "LICENSE_INVALID": (B, "{who} 的金融许可证 {license_code} 已失效。"),
    "LICENSE_NAME_MISMATCH": (W, "金融许可证上的机构名称“{licensed}”与抵押权人“{given}”不一致。"),
    "JUDGMENT_NOT_FOUND": (B, "未查到案号 {case_number} 的裁判文书，请核实生效法律文书。"),
    "JUDGMENT_PARTIES_DIFFER": (W, "裁判文书的当事人与申请人不一致：{who} 不在文书当事人之中。"),
    "PLACE_NAME_NOT_FOUND": (W, "地名“{name}”不是标准地名，请核实。"),
    "SOURCES_DISAGREE": (W, "{detail}"),
}


def finding(code: str, check_ids: tuple[str, ...], **fields: str) -> Finding:
    severity, template = CATALOGUE[code]
    return Finding(code, severity, template.format(**fields), check_ids)


def party_label(request: CaseRequest, role_labels: dict[str, str], index: int) -> str:
    party = request.parties[index]
    who = mask_name(party.name) if party.is_person else (party.organization_name or party.credit_code)
    return f"{role_labels.get(party.role, party.role)} {who}".strip()


ABOUT = {"spouse": "的配偶"}


def summary(result: CheckResult, kind, who: str) -> str:
    """One line for the clerk about one finished check (kind: its kinds.Kind)."""
    if result.status == CheckStatus.PENDING:
        return f"{who}：法院尚未返回查询结果，稍后可凭句柄获取"
    answer = result.answer
    if answer is None or answer.result is None:
        reason = answer.provenance.unavailable_reason if answer else "未执行"
        return f"{who}：来源不可用（{reason}），请人工核验"
    return kind.summary(answer.result, who)


@dataclass
class CaseView:
    """What a kind's findings may look at: the case, its plan, the party labels and every
    check answered so far."""

    request: CaseRequest
    type_plan: TypePlan
    labels: dict[int, str]
    results: list[CheckResult]
    case_labels: dict[str, str]

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
        return bool(id_number) and any(p.is_person and p.id_number == id_number for p in self.request.parties)

    def done(self, kind: str, party_index: int | None = None) -> list[CheckResult]:
        """Answered checks of a kind (of one party, when given)."""
        return [r for r in self.results
                if r.check.kind == kind and (party_index is None or r.check.party_index == party_index)
                and r.answer is not None and r.answer.result is not None and r.status != CheckStatus.PENDING]

    def identity_missing(self, party_index: int) -> bool:
        from querynode.domain.model import IdentityVerdict

        return any(r.answer.result.verdict == IdentityVerdict.NOT_FOUND for r in self.done("identity", party_index))
