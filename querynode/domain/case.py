"""Case checks: a registration case, the checks its plan runs, findings and the record."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from querynode.domain.model import Answer


@dataclass(frozen=True)
class CaseParty:
    """A person (name + id_number) or an organisation (credit_code and/or organization_name;
    lenders may add license_code) in a role of the case."""

    role: str
    name: str = ""
    id_number: str = ""
    credit_code: str = ""
    organization_name: str = ""
    license_code: str = ""

    @property
    def is_person(self) -> bool:
        return bool(self.id_number or self.name) and not (self.credit_code or self.organization_name)


@dataclass(frozen=True)
class CaseRequest:
    registration_type: str
    parties: tuple[CaseParty, ...]
    judgment_case_number: str = ""
    place_name: str = ""
    # The property the case is about, when given: 不动产单元号 and/or 坐落 (address).
    property_unit: str = ""
    property_address: str = ""


class CheckStatus(enum.StrEnum):
    OK = "OK"
    ATTENTION = "ATTENTION"
    UNAVAILABLE = "UNAVAILABLE"
    PENDING = "PENDING"
    # Answered from the cache while the department failed: the answer may be out of date.
    STALE = "STALE"


class Severity(enum.StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    BLOCKING = "BLOCKING"


class CaseStatus(enum.StrEnum):
    CLEAR = "CLEAR"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    INCOMPLETE = "INCOMPLETE"


@dataclass(frozen=True)
class PlannedCheck:
    check_id: str  # e.g. "identity:seller:0"
    kind: str  # a name registered in querynode.core.kinds
    role: str = ""
    party_index: int = -1  # index into CaseRequest.parties, -1 for case-level checks
    query: Any = None
    about: str = ""  # "" for the party itself; "spouse" for a follow-up about the party's spouse


@dataclass(frozen=True)
class CheckResult:
    check: PlannedCheck
    status: CheckStatus
    summary: str  # one Chinese line for the clerk, personal data masked
    answer: Answer | None = None


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str  # plain Chinese sentence, personal data masked
    check_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseResult:
    """A finished (or partly pending) case check: the verification record and its seal.

    `record` is the complete result as plain data (masked); `record_json` its canonical
    JSON, which `record_digest` and `record_signature` cover."""

    record: dict[str, Any]
    record_json: bytes
    record_digest: str
    record_signature: str

    @property
    def status(self) -> CaseStatus:
        return CaseStatus(self.record["status"])

    @property
    def record_id(self) -> str:
        return self.record["record_id"]

    @property
    def handle(self) -> str:
        return self.record["handle"]
