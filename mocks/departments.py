"""The set of mock departments, built over one shared synthetic world."""
from __future__ import annotations

from mocks.identity import IdentityDepartment
from mocks.population import SEED, generate
from mocks.server import MockDepartment


def build_departments(secrets: dict[str, str], size: int = 2000, seed: int = SEED) -> list[tuple[int, MockDepartment]]:
    """(port offset, department) pairs; offsets match the node's default ports (18000 + n)."""
    people = generate(size, seed)
    return [
        (1, IdentityDepartment(people, secrets)),
    ]
