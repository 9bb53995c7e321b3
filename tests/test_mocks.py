"""The mock departments are the departments' side, written on their own."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import aiohttp

from connectors.financial_license.client import sign as licence_sign
from mocks.financial_license import FinancialLicenseDepartment
from tests.conftest import APP_ID

MOCKS = Path(__file__).resolve().parent.parent / "mocks"


def test_no_mock_imports_from_connectors():
    """A signing bug copied into a mock by import would be mirrored on both sides, unseen."""
    offenders = []
    for path in sorted(MOCKS.glob("**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "connectors"]
    assert offenders == []


async def test_the_licence_mock_refuses_a_replayed_nonce(start_mock, dept_secret, samples):
    regulator = await start_mock(FinancialLicenseDepartment)
    code = samples["financial_license"]["licensed_bank"][0]["license_code"]
    body = json.dumps({"cxlx": "01", "jgbm": code}).encode()
    headers = {**licence_sign(dept_secret, APP_ID, body), "Content-Type": "application/json"}
    answers = []
    async with aiohttp.ClientSession() as http:
        for _ in range(2):  # the very same signed request, sent again
            async with http.post(f"{regulator.url}/jrxkz/api/v2/licence/query", data=body, headers=headers) as r:
                answers.append((await r.json(content_type=None))["retCode"])
    assert answers == ["0000", "1001"]
