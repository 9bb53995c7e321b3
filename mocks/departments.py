"""The set of mock departments, all serving slices of one synthetic world."""
from __future__ import annotations

import importlib

from mocks.server import MockDepartment
from mocks.world import SEED, World, build

# port offset (18000 + n, the node's defaults), module, class
DEPARTMENTS = (
    (1, "mocks.identity", "IdentityDepartment"),
    (2, "mocks.credit_code", "CreditCodeDepartment"),
    (3, "mocks.marriage", "MarriageDepartment"),
    (4, "mocks.court", "CourtDepartment"),
    (5, "mocks.death", "DeathDepartment"),
    (6, "mocks.place_name", "PlaceNameDepartment"),
    (7, "mocks.financial_license", "FinancialLicenseDepartment"),
    (8, "mocks.organ", "OrganDepartment"),
    (9, "mocks.social_org", "SocialOrgDepartment"),
    (10, "mocks.cremation", "CremationDepartment"),
)


def mock_classes() -> list[type[MockDepartment]]:
    """Every mock department class; each names its department (`name`)."""
    return [getattr(importlib.import_module(module), cls) for _, module, cls in DEPARTMENTS]


def department_modules():
    return [importlib.import_module(module) for _, module, _ in DEPARTMENTS]


def build_departments(secrets: dict[str, str], size: int = 2000, seed: int = SEED,
                      world: World | None = None) -> list[tuple[int, MockDepartment]]:
    """(port offset, department) pairs over one world."""
    world = world or build(size, seed)
    return [(offset, getattr(importlib.import_module(module), cls)(world, secrets)) for offset, module, cls in DEPARTMENTS]
