"""Queries, results and provenance: the data every layer exchanges.

Dates in records are ISO strings (YYYY-MM-DD) as departments give them; instants are
timezone-aware UTC datetimes, shown and stamped in Beijing time (SHANGHAI).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from querynode.domain.fields import (
    CASE_NUMBER, CREDIT_CODE, DIVISION_CODE, ID_NUMBER, LICENSE_CODE, ORGANIZATION_NAME, PERSON_NAME, PLACE_NAME, param,
)

# Beijing time, the one clock of the project (the mocks, the departments' side, keep their own):
# the dates and timestamps the departments sign and stamp, and every time a clerk reads.
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class RequestContext:
    """Who asks, for which case and why. `caller` comes from authentication."""

    case_number: str = param("受理编号", max_length=64, min_length=1)
    operator_id: str = param("操作员", max_length=64, min_length=1, description="Clerk id")
    purpose: str = param("查询事由", max_length=200, min_length=1, description="Purpose / legal basis")
    caller: str
    request_id: str
    fresh: bool = False
    # Absolute deadline on the event loop clock (loop.time()); None means the node's default.
    deadline: float | None = None


# ------------------------------------------------------------------ queries


_ID_NUMBER = dict(limits=ID_NUMBER, hint="18 位，末位可为 X", description="Resident ID number (GB 11643)")


@dataclass(frozen=True)
class IdentityQuery:
    id_number: str = param("公民身份号码", **_ID_NUMBER)
    name: str = param("姓名", limits=PERSON_NAME)


@dataclass(frozen=True)
class OrganizationQuery:
    credit_code: str | None = param("统一社会信用代码", default=None, limits=CREDIT_CODE, hint="18 位；与名称二选一")
    name: str | None = param("单位名称", default=None, limits=ORGANIZATION_NAME, hint="与代码二选一")


@dataclass(frozen=True)
class LicenseQuery:
    license_code: str | None = param("机构编码", default=None, limits=LICENSE_CODE,
                                     hint="15 位，如 B0001H111000001；与名称二选一")
    institution_name: str | None = param("机构名称", default=None, limits=ORGANIZATION_NAME, hint="与编码二选一")


@dataclass(frozen=True)
class JudgmentQuery:
    case_number: str | None = param("案号", default=None, limits=CASE_NUMBER, hint="如（2023）京0105民初1234号；与当事人二选一")
    party_name: str | None = param("当事人名称", default=None, limits=ORGANIZATION_NAME, hint="与案号二选一")


@dataclass(frozen=True)
class MarriageQuery:
    id_number: str = param("公民身份号码", **_ID_NUMBER)
    name: str = param("姓名", limits=PERSON_NAME)
    spouse_id_number: str | None = param("配偶公民身份号码", default=None, limits=ID_NUMBER, hint="选填")
    spouse_name: str | None = param("配偶姓名", default=None, limits=PERSON_NAME, hint="选填：核对两人是否互为配偶")


@dataclass(frozen=True)
class PlaceNameQuery:
    name: str | None = param("地名", default=None, limits=PLACE_NAME, hint="与区划代码二选一")
    division_code: str | None = param("行政区划代码", default=None, limits=DIVISION_CODE, hint="6 位")
    prefix: bool = param("按前缀匹配", default=False)
    limit: int = param("条数", default=20, minimum=1, maximum=100, on_form=False)


@dataclass(frozen=True)
class DeathQuery:
    id_number: str = param("公民身份号码", **_ID_NUMBER)
    name: str = param("姓名", limits=PERSON_NAME)


# ------------------------------------------------------------------ results


class IdentityVerdict(enum.StrEnum):
    MATCH = "MATCH"
    MISMATCH = "MISMATCH"
    NOT_FOUND = "NOT_FOUND"
    SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"


class IdentityItem(enum.StrEnum):
    NAME = "NAME"
    ID_NUMBER = "ID_NUMBER"


@dataclass(frozen=True)
class IdentityResult:
    verdict: IdentityVerdict
    mismatched_items: tuple[IdentityItem, ...] = ()


class OrganizationStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class Organization:
    credit_code: str
    name: str
    legal_representative: str
    org_type: str
    domicile: str
    registered_capital: str
    established_on: str
    issuing_office: str
    status: OrganizationStatus
    status_text: str
    scope: str = ""


@dataclass(frozen=True)
class OrganizationResult:
    organizations: tuple[Organization, ...]


@dataclass(frozen=True)
class FinancialLicense:
    license_code: str
    serial_number: str
    institution_name: str
    short_name: str
    english_name: str
    institution_type: str
    address: str
    scope: str
    issuing_office: str
    approved_on: str
    issued_on: str
    valid: bool
    credit_code: str = ""


@dataclass(frozen=True)
class LicenseResult:
    licenses: tuple[FinancialLicense, ...]


@dataclass(frozen=True)
class Party:
    name: str
    role: str
    id_number: str = ""


@dataclass(frozen=True)
class Judgment:
    case_number: str
    court: str
    cause: str
    decided_on: str
    parties: tuple[Party, ...]
    operative_text: str
    document_type: str


@dataclass(frozen=True)
class JudgmentResult:
    judgments: tuple[Judgment, ...]
    pending: bool = False


class MaritalStatus(enum.StrEnum):
    NO_RECORD = "NO_RECORD"
    MARRIED = "MARRIED"
    DIVORCED = "DIVORCED"
    ANNULLED = "ANNULLED"


class MarriageAct(enum.StrEnum):
    """Registration act; values are the department's op_type codes."""

    MARRIAGE = "IA"
    DIVORCE = "IB"
    REISSUE = "IC"
    REISSUE_MARRIAGE = "ICA"
    REISSUE_DIVORCE = "ICB"
    ANNULMENT = "ID"


@dataclass(frozen=True)
class MarriageRecord:
    act: MarriageAct
    registered_on: str
    office_name: str
    office_code: str
    certificate_number: str
    party_name: str
    party_id_number: str
    spouse_name: str
    spouse_id_number: str


@dataclass(frozen=True)
class MarriageResult:
    status: MaritalStatus
    records: tuple[MarriageRecord, ...] = ()
    spouse_name: str = ""
    spouse_id_number: str = ""
    married_to_each_other: bool = False


@dataclass(frozen=True)
class PlaceName:
    name: str
    roman: str
    place_type: str
    place_type_code: str
    code: str
    division_code: str
    division_name: str
    longitude: float
    latitude: float
    meaning: str = ""
    history: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlaceNameResult:
    places: tuple[PlaceName, ...]


@dataclass(frozen=True)
class DeathRecord:
    died_on: str
    certificate_number: str
    issuer: str
    cause_code: str


@dataclass(frozen=True)
class DeathResult:
    record: DeathRecord | None


# --------------------------------------------------------------- provenance


@dataclass(frozen=True)
class Provenance:
    """Where an answer came from; attached by the hub, never by a connector."""

    department: str  # the registered department name
    source_time: datetime | None
    audit_id: str
    request_id: str
    from_cache: bool = False
    cache_age_seconds: float = 0.0
    stale: bool = False
    unavailable_reason: str = ""


R = TypeVar("R")


@dataclass(frozen=True)
class Answer(Generic[R]):
    """A result with its provenance. `result` is None when the source was unavailable."""

    result: R | None
    provenance: Provenance
    warnings: tuple[str, ...] = field(default=())

    @property
    def available(self) -> bool:
        return self.result is not None
