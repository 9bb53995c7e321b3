"""The mock departments are the departments' side, written on their own."""
from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import aiohttp

from connectors.base.ministry import signature
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
    body = json.dumps({"head": {"requestType": "YB01", "cxqqdh": "20260101110000000001", "businessNumber": "1"},
                       "data": {"typeId": "01", "certCode": code}}).encode()
    timestamp, nonce = str(int(time.time() * 1000)), "n-0001"
    headers = {"X-App-Id": APP_ID, "X-Timestamp": timestamp, "X-Nonce": nonce, "Content-Type": "application/json",
               "X-Signature": signature(dept_secret, APP_ID, timestamp, nonce, body)}
    answers = []
    async with aiohttp.ClientSession() as http:
        for _ in range(2):  # the very same signed request, sent again
            async with http.post(f"{regulator.url}{regulator.path}", data=body, headers=headers) as r:
                answers.append((await r.json(content_type=None))["head"]["status"])
    assert answers == ["0200", "0301"]
