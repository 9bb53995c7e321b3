"""Plans per registration type: which checks run for which role (data in plans.yaml). A plan
may only name check kinds registered in kinds.py, each for the subject it checks."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from querynode.core.kinds import KINDS

DEFAULT_PLANS = Path(__file__).with_name("plans.yaml")


def _kinds_of(subject: str) -> set[str]:
    return {name for name, kind in KINDS.items() if kind.subject == subject}


class RolePlan(BaseModel, extra="forbid"):
    label: str
    person: list[str] = Field(default_factory=list)
    organization: list[str] = Field(default_factory=list)
    # What a death record means for this role: it must not exist (a party signs), it must
    # exist (the decedent), or it is only reported.
    deceased: Literal["forbidden", "expected", "info"] = "forbidden"
    # What a current marriage means: the spouse must consent (seller, mortgagor), the spouse
    # shares the estate (decedent), or it is only reported.
    spouse: Literal["consent", "estate", "info"] = "info"
    # The registration is made at a court's request: the party signs nothing (查封).
    court_ordered: bool = False
    # Where a court document must put this party (transfer by judgment, seizure); empty: anywhere.
    court_roles: list[str] = Field(default_factory=list)
    # The party acts for another (代理人): the authority must be checked by hand.
    agent: bool = False

    def model_post_init(self, _context) -> None:
        for subject, kinds in (("person", self.person), ("organization", self.organization)):
            unknown = set(kinds) - _kinds_of(subject)
            if unknown:
                raise ValueError(f"{subject} checks {sorted(unknown)} are not registered {subject} kinds; "
                                 f"known: {sorted(_kinds_of(subject))}")


class TypePlan(BaseModel, extra="forbid"):
    label: str
    roles: dict[str, RolePlan]
    case: dict[str, Literal["required", "optional"]] = Field(default_factory=dict)
    # What the cited court document's operative part must do for this registration.
    judgment_effect: Literal["transfer", "seizure", ""] = ""

    def model_post_init(self, _context) -> None:
        unknown = set(self.case) - _kinds_of("case")
        if unknown:
            raise ValueError(f"case checks {sorted(unknown)} are not registered case kinds")


class Plans(BaseModel, extra="forbid"):
    # Roles every registration type has (the agent), merged into each type's own roles.
    every_type: dict[str, RolePlan] = Field(default_factory=dict)
    types: dict[str, TypePlan]

    def model_post_init(self, _context) -> None:
        for plan in self.types.values():
            for role, role_plan in self.every_type.items():
                plan.roles.setdefault(role, role_plan)

    @classmethod
    def load(cls, path: Path | None = None) -> "Plans":
        return cls.model_validate(yaml.safe_load((path or DEFAULT_PLANS).read_text(encoding="utf-8")))
