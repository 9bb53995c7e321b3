"""Names are compared through one function (querynode.domain.names.same_name) wherever the node
sets a typed name against a department's: case findings and the connectors' "is this reply about
the person asked" checks (issue 17: Latin names compared case-sensitively, dot look-alikes)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from querynode.core.findings import cross_findings, local_findings
from querynode.domain import model as m
from querynode.domain.case import CaseParty, CaseRequest, CheckKind, CheckResult, CheckStatus, PlannedCheck

CODE = "91110000600037341L"


def org_answer(name: str, representative: str) -> m.Answer:
    org = m.Organization(credit_code=CODE, name=name, legal_representative=representative, org_type="有限责任公司",
                         domicile="北京市", registered_capital="100万元人民币", established_on="2001-01-01",
                         issuing_office="北京市市场监督管理局", status=m.OrganizationStatus.ACTIVE, status_text="存续")
    provenance = m.Provenance(department=m.Department.CREDIT_CODE, source_time=datetime.now(UTC), audit_id="a",
                              request_id="r")
    return m.Answer(result=m.OrganizationResult(organizations=(org,)), provenance=provenance)


def codes(typed_org: str, registered_org: str, typed_rep: str, registered_rep: str) -> set[str]:
    request = CaseRequest(registration_type="mortgage", parties=(
        CaseParty(role="mortgagee", credit_code=CODE, organization_name=typed_org),
        CaseParty(role="legal_representative", name=typed_rep, id_number="11010519491231002X"),
    ))
    check = PlannedCheck("organization:mortgagee:0", CheckKind.ORGANIZATION, "mortgagee", 0)
    result = CheckResult(check, CheckStatus.OK, "", org_answer(registered_org, registered_rep))
    found = cross_findings([result], request, {0: "抵押权人", 1: "法定代表人"})
    found += local_findings(result, request, "抵押权人")
    return {f.code for f in found}


@pytest.mark.parametrize("typed,registered", [
    ("艾力.买买提", "艾力·买买提"), ("艾力･买买提", "艾力·买买提"), ("o'brien", "O'BRIEN"), ("Müller", "MÜLLER"),
    ("张 三", "张三"),
])
def test_legal_representative_written_differently_is_the_same_person(typed, registered):
    assert "LEGAL_REPRESENTATIVE_DIFFERS" not in codes("北京华鑫科技有限公司", "北京华鑫科技有限公司", typed, registered)


def test_another_legal_representative_is_still_found():
    assert "LEGAL_REPRESENTATIVE_DIFFERS" in codes("北京华鑫科技有限公司", "北京华鑫科技有限公司", "张三", "李四")


def test_organisation_name_with_half_width_brackets_is_the_registered_name():
    assert "ORG_NAME_MISMATCH" not in codes("北京华鑫科技(集团)有限公司", "北京华鑫科技（集团）有限公司", "张三", "张三")
    assert "ORG_NAME_MISMATCH" in codes("北京华鑫科技有限公司", "北京华鑫科技（集团）有限公司", "张三", "张三")


@pytest.mark.parametrize("replied,asked", [("SMITH", "Smith"), ("艾力．买买提", "艾力·买买提"), ("o'brien", "O'BRIEN"),
                                           ("张 三", "张三")])  # what GBK can carry
def test_death_reply_spelling_the_name_differently_is_about_the_person_asked(replied, asked):
    from connectors.base import BadUpstream
    from connectors.death.reply import parse
    from mocks.death import respond

    number = "11010519491231002X"
    record = {"SFZH": number, "XM": replied, "XB": "2", "MZ": "01", "SWYYDM": "I21.9", "SWRQ": "2025-01-02",
              "ZMBH": "Z110105202500001", "QFJG": "北京市朝阳区人民医院"}
    result = parse(respond("00", "查询成功", record).body, m.DeathQuery(number, asked))
    assert result.record is not None and result.record.died_on == "2025-01-02"
    with pytest.raises(BadUpstream):
        parse(respond("00", "查询成功", {**record, "XM": "李四"}).body, m.DeathQuery(number, asked))
