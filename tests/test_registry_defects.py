"""Defects issue 15 names, each reproduced before the registry existed."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from querynode.api.http.openapi import document
from querynode.security.masking import present


@dataclass(frozen=True)
class UndeclaredResult:
    """A result type no operation declares: a department added without its masking."""

    name: str
    id_number: str


@pytest.mark.parametrize("view", ["masked", "verdict"])
def test_an_undeclared_result_is_never_shown_unmasked(view):
    # Before the registry, masking.present's isinstance chain returned it as it came.
    with pytest.raises(LookupError):
        present(UndeclaredResult("张三", "110105199003071234"), view)


def test_openapi_limits_belong_to_the_operation_field_not_the_field_name():
    schemas = document()["components"]["schemas"]
    # `name` is required in VerifyIdentity but one of two keys in LookupOrganization and QueryPlaceNames.
    identity_name = schemas["IdentityQuery"]["properties"]["name"]
    organization_name = schemas["OrganizationQuery"]["properties"]["name"]
    place_name = schemas["PlaceNameQuery"]["properties"]["name"]
    assert identity_name["type"] == "string"
    assert "null" in organization_name["type"] and "null" in place_name["type"]
    assert "name" not in schemas["OrganizationQuery"]["required"]
    # and each carries the limit its own validation applies (person 30, organisation 100, place 50)
    assert (identity_name["maxLength"], organization_name["maxLength"], place_name["maxLength"]) == (30, 100, 50)
