"""中编办 事业单位 / 机关群团 (ZB01), as the node knows it (core/operations.py)."""
from __future__ import annotations

from connectors.organ.types import OrganQuery, OrganResult
from connectors.social_org.declaration import (
    organization_badge, organization_cards, organization_masked, validate_for,
)
from querynode.core.operations import Department, Form, Operation, found_if

DEPARTMENT = Department("organ", "中央编办（事业单位、机关群团）", default_port=18008, cache_ttl_seconds=3600,
                        connector="connectors.organ.client:OrganConnector")

OPERATIONS = (
    Operation(
        name="LookupOrgan", department="organ", query_type=OrganQuery, result_type=OrganResult,
        label="事业单位、机关群团", summary="Public institution or party/mass organ by credit code or name",
        http_path="/api/v1/organs/lookup", verdict=found_if(lambda r: bool(r.organizations)),
        validate=validate_for("1"), masking={"masked": organization_masked, "verdict": organization_masked},
        form=Form("organ", lambda q: q.credit_code or q.name, organization_cards, badge=organization_badge),
        rpc="LookupOrgan",
    ),
)
