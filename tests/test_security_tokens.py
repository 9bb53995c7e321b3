"""Token life cycle and certificate callers (issue 18, M6/M7): tokens expire (default 90
days), a metric counts those near expiry, `querynode token list|revoke|rotate` work on a
running node without a restart; a client certificate without a subject CN, or whose CN is
not a configured caller, is refused (deny by default)."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta

import aiohttp
import grpc
import pytest

from querynode.observability import metrics
from querynode.security.authentication import UNAUTHENTICATED_CALLER, TokenStore, issue_token, token_hash
from querynode.security.tls import Issued, issue
from querynode.v1 import querynode_pb2_grpc
from tests.conftest import json_ctx
from tests.test_security_auth import channel, pki, samples, secure_node, verify_request  # noqa: F401 - fixtures


async def cli(*args: str, token_file) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", "token", *args,
        env={**os.environ, "QUERYNODE_SECURITY__TOKENS_FILE": str(token_file)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def http_status(sn, token: str, person) -> int:
    async with aiohttp.ClientSession() as session, session.post(
            f"{sn.http_url}/api/v1/identity/verify", headers={"Authorization": f"Bearer {token}"},
            json={"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]}) as resp:
        return resp.status


def test_tokens_expire_after_90_days_by_default(tmp_path):
    path = tmp_path / "tokens.json"
    token = issue_token(path, "registry-a")
    now = [datetime.now(UTC)]
    store = TokenStore.load(path, clock=lambda: now[0])
    assert store.caller_for(token) == "registry-a"
    now[0] += timedelta(days=89)
    assert store.caller_for(token) == "registry-a"
    now[0] += timedelta(days=2)
    assert store.caller_for(token) is None
    entry = json.loads(path.read_text())[token_hash(token)]
    expires = datetime.fromisoformat(entry["expires_at"]) - datetime.fromisoformat(entry["issued_at"])
    assert expires == timedelta(days=90)


def test_a_token_from_before_expiry_existed_expires_90_days_after_issue(tmp_path):
    path = tmp_path / "tokens.json"
    old, recent = "qn_" + "a" * 43, "qn_" + "b" * 43
    issued_old = (datetime.now(UTC) - timedelta(days=91)).isoformat(timespec="seconds")
    issued_recent = (datetime.now(UTC) - timedelta(days=10)).isoformat(timespec="seconds")
    path.write_text(json.dumps({token_hash(old): {"caller": "a", "issued_at": issued_old},
                                token_hash(recent): {"caller": "b", "issued_at": issued_recent}}))
    store = TokenStore.load(path)
    assert store.caller_for(old) is None and store.caller_for(recent) == "b"


def test_metric_counts_tokens_near_expiry(tmp_path):
    path = tmp_path / "tokens.json"
    issue_token(path, "soon", days=5)
    issue_token(path, "later", days=60)
    issue_token(path, "also-soon", days=13)
    TokenStore.load(path)
    assert metrics.TOKENS_EXPIRING_SOON._value.get() == 2
    assert metrics.TOKENS_VALID._value.get() == 3


async def test_issue_revoke_rotate_take_effect_without_a_restart(secure_node, identity_mock, samples, tmp_path):
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="token")
    token_file = tmp_path / "node0" / "tokens.json"
    person = samples["identity"]["match"][0]
    assert await http_status(sn, sn.tokens["registry-a"], person) == 200

    code, out, err = await cli("issue", "--caller", "registry-c", "--days", "30", token_file=token_file)
    assert code == 0, err
    new = out.strip()
    assert await http_status(sn, new, person) == 200  # no restart

    code, out, _ = await cli("list", token_file=token_file)
    assert code == 0 and "registry-c" in out and "3 token(s)" in out and new not in out
    new_id = token_hash(new)[:12]
    assert new_id in out
    code, out, _ = await cli("revoke", "--id", new_id, token_file=token_file)
    assert code == 0 and "revoked 1 token(s)" in out
    assert await http_status(sn, new, person) == 401

    code, out, err = await cli("rotate", "--caller", "registry-a", "--grace-hours", "0.0001", token_file=token_file)
    assert code == 0, err
    rotated = out.strip()
    assert await http_status(sn, rotated, person) == 200
    entry = json.loads(token_file.read_text())[token_hash(sn.tokens["registry-a"])]
    assert datetime.fromisoformat(entry["expires_at"]) < datetime.now(UTC) + timedelta(minutes=1)

    code, out, _ = await cli("revoke", "--caller", "registry-b", token_file=token_file)
    assert code == 0 and "revoked 1 token(s)" in out
    assert await http_status(sn, sn.tokens["registry-b"], person) == 401
    code, _, err = await cli("revoke", "--id", "abc", token_file=token_file)
    assert code != 0 and "at least 8 hex digits" in err


def _ca(pki) -> Issued:
    return Issued(pki.ca_cert.read_bytes(), pki.ca_key.read_bytes())


@pytest.mark.parametrize("subject", [None, "stranger"])
async def test_certificate_without_cn_or_not_a_caller_is_refused(secure_node, identity_mock, pki, samples,
                                                                  subject):
    """The red team's CN-less certificate from the demo CA had full unmasked access; so did any
    name the CA signed. Now only configured callers' certificates are accepted."""
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="mtls")
    cert = issue(_ca(pki), subject, server=False)
    async with channel(sn.grpc_target, pki, cert=cert.cert_pem, key=cert.key_pem) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await querynode_pb2_grpc.QueryNodeStub(ch).VerifyIdentity(
                verify_request(samples["identity"]["match"][0]), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert identity_mock.stats["requests"] == 0
    records = await sn.node.audit_store.records()
    assert [(r.caller, r.outcome) for r in records] == [(UNAUTHENTICATED_CALLER, "UNAUTHENTICATED")]
