"""Query and result of the 民政部 殡葬 火化信息 service."""
from __future__ import annotations

from dataclasses import dataclass

from querynode.domain.fields import ID_NUMBER, PERSON_NAME, param


@dataclass(frozen=True)
class CremationQuery:
    id_number: str = param("公民身份号码", limits=ID_NUMBER, hint="18 位，末位可为 X")
    name: str = param("姓名", limits=PERSON_NAME)


@dataclass(frozen=True)
class CremationRecord:
    died_on: str  # YYYY-MM-DD
    cremated_on: str  # YYYY-MM-DD


@dataclass(frozen=True)
class CremationResult:
    records: tuple[CremationRecord, ...]
