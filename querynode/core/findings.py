"""What the clerk reads: a one-line summary per check and findings across checks.

Every sentence is plain Chinese with personal data masked (surname + *, ID 6+4).
"""
from __future__ import annotations

from querynode.domain import model as m
from querynode.domain.case import CaseRequest, CheckKind, CheckResult, CheckStatus, Finding, Severity
from querynode.domain.names import name_key, same_name
from querynode.security.masking import mask_id_number, mask_name

STATUS_TEXT = {
    m.OrganizationStatus.ACTIVE: "存续", m.OrganizationStatus.REVOKED: "吊销", m.OrganizationStatus.CANCELLED: "注销",
}
MARITAL_TEXT = {
    m.MaritalStatus.NO_RECORD: "无婚姻登记记录", m.MaritalStatus.MARRIED: "已婚",
    m.MaritalStatus.DIVORCED: "离婚", m.MaritalStatus.ANNULLED: "婚姻已被撤销",
}


def party_label(request: CaseRequest, role_labels: dict[str, str], index: int) -> str:
    party = request.parties[index]
    who = mask_name(party.name) if party.is_person else (party.organization_name or party.credit_code)
    return f"{role_labels.get(party.role, party.role)} {who}".strip()


def summary(result: CheckResult, who: str) -> str:
    """One line for the clerk about one finished check."""
    check, answer = result.check, result.answer
    if result.status == CheckStatus.PENDING:
        return f"{who}：法院尚未返回查询结果，稍后可凭句柄获取"
    if answer is None or answer.result is None:
        reason = answer.provenance.unavailable_reason if answer else "未执行"
        return f"{who}：来源不可用（{reason}），请人工核验"
    r = answer.result
    match check.kind:
        case CheckKind.IDENTITY:
            return f"{who}：身份核查" + {
                m.IdentityVerdict.MATCH: "一致", m.IdentityVerdict.NOT_FOUND: "无此身份号码记录",
            }.get(r.verdict, "不一致（" + "、".join({"NAME": "姓名", "ID_NUMBER": "证件号码"}[i] for i in r.mismatched_items) + "）")
        case CheckKind.DEATH:
            return f"{who}：" + (f"{r.record.died_on} 死亡（证明编号 {r.record.certificate_number}）" if r.record else "无死亡医学证明记录")
        case CheckKind.MARRIAGE:
            spouse = f"，配偶 {mask_name(r.spouse_name)}" if r.status == m.MaritalStatus.MARRIED and r.spouse_name else ""
            return f"{who}：{MARITAL_TEXT[r.status]}{spouse}"
        case CheckKind.ORGANIZATION:
            if not r.organizations:
                return f"{who}：未查到登记主体"
            org = r.organizations[0]
            return f"{who}：{org.name}，{STATUS_TEXT[org.status]}"
        case CheckKind.LICENSE:
            if not r.licenses:
                return f"{who}：未查到金融许可证"
            lic = r.licenses[0]
            return f"{who}：金融许可证 {lic.license_code}（{lic.institution_name}）{'有效' if lic.valid else '已失效'}"
        case CheckKind.JUDGMENT:
            if not r.judgments:
                return f"{who}：未查到该案号的裁判文书"
            j = r.judgments[0]
            return f"{who}：{j.court} {j.case_number} {j.cause}（{j.decided_on}）"
        case CheckKind.PLACE_NAME:
            if not r.places:
                return f"{who}：未查到标准地名"
            p = r.places[0]
            return f"{who}：{p.name}（{p.division_name}）"
    return who


def local_findings(result: CheckResult, request: CaseRequest, who: str) -> list[Finding]:
    """Findings that one check shows on its own."""
    answer = result.answer
    if result.status in (CheckStatus.PENDING, CheckStatus.UNAVAILABLE) or answer is None or answer.result is None:
        return []
    check, r, ids = result.check, answer.result, (result.check.check_id,)
    out: list[Finding] = []
    match check.kind:
        case CheckKind.IDENTITY:
            if r.verdict == m.IdentityVerdict.MISMATCH:
                out.append(Finding("NAME_MISMATCH", Severity.BLOCKING, f"{who} 的姓名与身份证号码不一致，请核对身份证件。", ids))
            elif r.verdict == m.IdentityVerdict.NOT_FOUND:
                out.append(Finding("ID_NOT_FOUND", Severity.BLOCKING, f"{who} 的身份证号码在公安部无匹配记录，请核对证件。", ids))
        case CheckKind.DEATH:
            if check.rule == "expected" and r.record is None:
                out.append(Finding("DECEDENT_NO_DEATH_RECORD", Severity.BLOCKING,
                                   f"{who} 无死亡医学证明记录，请申请人提交死亡证明或核实被继承人信息。", ids))
            elif check.rule == "forbidden" and r.record is not None:
                out.append(Finding("PARTY_DECEASED", Severity.BLOCKING,
                                   f"{who} 已于 {r.record.died_on} 死亡，不能作为申请人签字，应按继承程序办理。", ids))
        case CheckKind.MARRIAGE:
            if r.status == m.MaritalStatus.MARRIED:
                spouse_ids = {p.id_number for p in request.parties if p.is_person}
                spouse = mask_name(r.spouse_name) or "（未返回）"
                if check.rule == "estate":
                    listed = r.spouse_id_number in spouse_ids
                    out.append(Finding("SURVIVING_SPOUSE", Severity.WARNING,
                                       f"{who} 死亡时处于已婚状态，配偶 {spouse}（{mask_id_number(r.spouse_id_number)}）"
                                       f"对夫妻共同财产享有一半份额并为第一顺序继承人" +
                                       ("，已列为继承人。" if listed else "，但未列为继承人，请核实。"), ids))
                elif check.rule == "consent":
                    if r.spouse_id_number in spouse_ids:
                        out.append(Finding("SPOUSE_IS_PARTY", Severity.INFO, f"{who} 的配偶 {spouse} 已作为当事人参与。", ids))
                    else:
                        out.append(Finding("SPOUSE_CONSENT_NEEDED", Severity.WARNING,
                                           f"{who} 已婚（配偶 {spouse}），房屋可能为夫妻共同财产，需配偶书面同意或共同申请。", ids))
                else:
                    out.append(Finding("PARTY_MARRIED", Severity.INFO, f"{who} 已婚（配偶 {spouse}），可按约定登记为共同共有。", ids))
        case CheckKind.ORGANIZATION:
            party = request.parties[check.party_index]
            if not r.organizations:
                out.append(Finding("ORG_NOT_FOUND", Severity.BLOCKING, f"{who} 在登记机关无记录，请核对统一社会信用代码。", ids))
            else:
                org = r.organizations[0]
                if org.status == m.OrganizationStatus.REVOKED:
                    out.append(Finding("ORG_REVOKED", Severity.BLOCKING, f"{who} 营业执照已被吊销，不能办理该登记。", ids))
                elif org.status == m.OrganizationStatus.CANCELLED:
                    out.append(Finding("ORG_CANCELLED", Severity.BLOCKING, f"{who} 已注销，主体资格已终止。", ids))
                if party.organization_name and party.credit_code and not same_name(party.organization_name, org.name):
                    out.append(Finding("ORG_NAME_MISMATCH", Severity.WARNING,
                                       f"申请材料中的名称“{party.organization_name}”与登记名称“{org.name}”不一致。", ids))
        case CheckKind.LICENSE:
            party = request.parties[check.party_index]
            if not r.licenses:
                out.append(Finding("LENDER_UNLICENSED", Severity.BLOCKING,
                                   f"{who} 未查到金融许可证，不是持牌金融机构，不能作为抵押权人办理贷款抵押。", ids))
            else:
                lic = r.licenses[0]
                if not lic.valid:
                    out.append(Finding("LICENSE_INVALID", Severity.BLOCKING, f"{who} 的金融许可证 {lic.license_code} 已失效。", ids))
                if party.organization_name and not same_name(lic.institution_name, party.organization_name):
                    out.append(Finding("LICENSE_NAME_MISMATCH", Severity.WARNING,
                                       f"金融许可证上的机构名称“{lic.institution_name}”与抵押权人“{party.organization_name}”不一致。", ids))
        case CheckKind.JUDGMENT:
            if not r.judgments:
                out.append(Finding("JUDGMENT_NOT_FOUND", Severity.BLOCKING,
                                   f"未查到案号 {request.judgment_case_number} 的裁判文书，请核实生效法律文书。", ids))
        case CheckKind.PLACE_NAME:
            if not r.places:
                out.append(Finding("PLACE_NAME_NOT_FOUND", Severity.WARNING, f"地名“{request.place_name}”不是标准地名，请核实。", ids))
    return out


def cross_findings(results: list[CheckResult], request: CaseRequest, labels: dict[int, str]) -> list[Finding]:
    """Findings that need several checks: judgment parties, legal representative, sources that disagree."""
    out: list[Finding] = []
    done = [x for x in results if x.answer is not None and x.answer.result is not None and x.status != CheckStatus.PENDING]
    by_kind: dict[CheckKind, list[CheckResult]] = {}
    for x in done:
        by_kind.setdefault(x.check.kind, []).append(x)

    for j in by_kind.get(CheckKind.JUDGMENT, []):
        if not j.answer.result.judgments:
            continue
        names = {name_key(p.name) for judgment in j.answer.result.judgments for p in judgment.parties}
        missing = [i for i, p in enumerate(request.parties) if (p.name if p.is_person else p.organization_name)
                   and name_key(p.name if p.is_person else p.organization_name) not in names]
        if missing:
            out.append(Finding("JUDGMENT_PARTIES_DIFFER", Severity.WARNING,
                               "裁判文书的当事人与申请人不一致：" + "、".join(labels[i] for i in missing) + " 不在文书当事人之中。",
                               (j.check.check_id,)))

    reps = [i for i, p in enumerate(request.parties) if p.role == "legal_representative"]
    for org_check in by_kind.get(CheckKind.ORGANIZATION, []):
        orgs = org_check.answer.result.organizations
        if not orgs or not reps:
            continue
        registered = orgs[0].legal_representative
        for i in reps:
            if request.parties[i].name and registered and not same_name(request.parties[i].name, registered):
                out.append(Finding("LEGAL_REPRESENTATIVE_DIFFERS", Severity.WARNING,
                                   f"{labels[i]} 与登记机关记载的法定代表人 {mask_name(registered)} 不一致，请核实授权。",
                                   (org_check.check.check_id,)))

    identity_missing = {x.check.party_index for x in by_kind.get(CheckKind.IDENTITY, [])
                        if x.answer.result.verdict == m.IdentityVerdict.NOT_FOUND}
    for kind in (CheckKind.DEATH, CheckKind.MARRIAGE):
        for x in by_kind.get(kind, []):
            r = x.answer.result
            has_record = r.record is not None if kind == CheckKind.DEATH else bool(r.records)
            if x.check.party_index in identity_missing and has_record:
                out.append(Finding("SOURCES_DISAGREE", Severity.WARNING,
                                   f"{labels[x.check.party_index]}：公安部无此身份号码记录，但"
                                   f"{'卫健委' if kind == CheckKind.DEATH else '民政部'}有记录，请人工核实。",
                                   (x.check.check_id,)))

    licenses = by_kind.get(CheckKind.LICENSE, [])
    for lic_check in licenses:
        lics = lic_check.answer.result.licenses
        for org_check in by_kind.get(CheckKind.ORGANIZATION, []):
            orgs = org_check.answer.result.organizations
            if (org_check.check.party_index == lic_check.check.party_index and lics and orgs
                    and lics[0].credit_code and lics[0].credit_code != orgs[0].credit_code):
                out.append(Finding("SOURCES_DISAGREE", Severity.WARNING,
                                   f"{labels[lic_check.check.party_index]}：金融许可证记载的统一社会信用代码与市场监管登记不一致。",
                                   (lic_check.check.check_id, org_check.check.check_id)))
    return out
