"""Query and result of the 中编办 register: the organisation record is the domain's one."""
from __future__ import annotations

from dataclasses import dataclass

from querynode.domain.fields import CREDIT_CODE, ORGANIZATION_NAME, param
from querynode.domain.model import Organization


@dataclass(frozen=True)
class OrganQuery:
    credit_code: str | None = param("统一社会信用代码", default=None, limits=CREDIT_CODE,
                                    hint="18 位，首位 1（机构编制）；与名称二选一")
    name: str | None = param("单位名称", default=None, limits=ORGANIZATION_NAME, hint="第一名称；与代码二选一")


@dataclass(frozen=True)
class OrganResult:
    organizations: tuple[Organization, ...]
