"""The 市场监管总局 企业基本信息验证 (verify) query and result; the lookup uses the domain's
OrganizationQuery / OrganizationResult."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from querynode.domain.fields import CREDIT_CODE, ORGANIZATION_NAME, param


@dataclass(frozen=True)
class EnterpriseCheckQuery:
    credit_code: str = param("统一社会信用代码", limits=CREDIT_CODE, hint="18 位，首位 9（工商）")
    name: str = param("企业名称", limits=ORGANIZATION_NAME, hint="与营业执照一致")


class CheckOutcome(enum.StrEnum):
    """entchk_checkres_key as the node can judge it: 03, 04 and 01 (the others are left to a person)."""

    MATCH = "MATCH"  # 03 比对后完全一致
    MISMATCH = "MISMATCH"  # 04 比对后存在不一致
    NOT_FOUND = "NOT_FOUND"  # 01 未查询到主体


@dataclass(frozen=True)
class Difference:
    item: str  # chk_key 比对数据项
    given: str  # in_val 输入值
    registered: str  # out_val 输出值


@dataclass(frozen=True)
class EnterpriseCheckResult:
    outcome: CheckOutcome
    status: str = ""  # ACTIVE / REVOKED / CANCELLED (OrganizationStatus) of regstateCn; "" when none came
    status_text: str = ""  # regstateCn as the register wrote it
    differences: tuple[Difference, ...] = ()
