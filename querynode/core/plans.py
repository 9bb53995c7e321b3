"""Plans per registration type: which checks run for which role (data in plans.yaml)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from querynode.domain.case import CheckKind

DEFAULT_PLANS = Path(__file__).with_name("plans.yaml")
PARTY_KINDS = {CheckKind.IDENTITY, CheckKind.DEATH, CheckKind.MARRIAGE, CheckKind.ORGANIZATION, CheckKind.LICENSE}
PERSON_KINDS = {CheckKind.IDENTITY, CheckKind.DEATH, CheckKind.MARRIAGE}


class RolePlan(BaseModel, extra="forbid"):
    label: str
    person: list[CheckKind] = Field(default_factory=list)
    organization: list[CheckKind] = Field(default_factory=list)
    # What a death record means for this role: it must not exist (a party signs), it must
    # exist (the decedent), or it is only reported.
    deceased: Literal["forbidden", "expected", "info"] = "forbidden"
    # What a current marriage means: the spouse must consent (seller, mortgagor), the spouse
    # shares the estate (decedent), or it is only reported.
    spouse: Literal["consent", "estate", "info"] = "info"

    def rule(self, kind: CheckKind) -> str:
        return {CheckKind.DEATH: self.deceased, CheckKind.MARRIAGE: self.spouse}.get(kind, "")

    def model_post_init(self, _context) -> None:
        if not set(self.person) <= PERSON_KINDS:
            raise ValueError(f"person checks must be among {sorted(PERSON_KINDS)}")
        if not set(self.organization) <= PARTY_KINDS - PERSON_KINDS:
            raise ValueError("organization checks must be organization or license")


class TypePlan(BaseModel, extra="forbid"):
    label: str
    roles: dict[str, RolePlan]
    case: dict[Literal["judgment", "place_name"], Literal["required", "optional"]] = Field(default_factory=dict)


class Plans(BaseModel, extra="forbid"):
    types: dict[str, TypePlan]

    @classmethod
    def load(cls, path: Path | None = None) -> "Plans":
        return cls.model_validate(yaml.safe_load((path or DEFAULT_PLANS).read_text(encoding="utf-8")))
