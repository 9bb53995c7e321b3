"""Smaller leaks and gaps the red team found (issue 18, L5 and L4): request ids shaped like
ID numbers, CheckCase for a caller whose operations omit it, the data files' modes, login
work equal whatever the account's state."""
from __future__ import annotations

import stat

import aiohttp
import grpc
import pytest

from querynode.config import CallerSettings
from querynode.security.accounts import AccountPolicy, AccountStore, LoginRefused, Role, accounts_path
from querynode.security.field_crypto import FieldCipher
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, json_ctx


async def test_a_request_id_shaped_like_an_id_number_is_replaced(node, samples, caplog):
    person = samples["identity"]["match"][0]
    offered = person["id_number"]
    body = {"context": {**json_ctx(), "request_id": offered}, "id_number": person["id_number"], "name": person["name"]}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.http_url}/api/v1/identity/verify", json=body,
                                headers={"X-Request-Id": "x-" + offered}) as resp:
            assert resp.status == 200
            answered_id = resp.headers["X-Request-Id"]
            payload = await resp.json()
    assert offered not in answered_id and payload["provenance"]["request_id"] == answered_id
    reply = await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(request_id=offered), id_number=person["id_number"], name=person["name"]))
    assert reply.provenance.request_id and offered not in reply.provenance.request_id
    assert all(offered not in r.request_id for r in await node.node.audit_store.records())
    assert offered not in caplog.text


async def test_check_case_refused_when_the_callers_operations_omit_it(node_for, identity_mock, samples):
    running = await node_for({"identity": identity_mock.url},
                             callers={"test-registry": CallerSettings(operations=["VerifyIdentity"])})
    a, b = samples["identity"]["match"][:2]
    parties = [pb.CaseParty(role="seller", name=a["name"], id_number=a["id_number"]),
               pb.CaseParty(role="buyer", name=b["name"], id_number=b["id_number"])]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.CheckCase(pb.CheckCaseRequest(context=ctx(), registration_type="advance_notice",
                                                         parties=parties))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and "CheckCase" in err.value.details()
    assert identity_mock.stats["requests"] == 0
    records = await running.node.audit_store.records()
    assert [(r.operation, r.outcome) for r in records] == [("CheckCase", "PERMISSION_DENIED")]


async def test_data_files_are_created_0600(node, samples):
    person = samples["identity"]["match"][0]
    await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(context=ctx(), id_number=person["id_number"],
                                                            name=person["name"]))
    data_dir = node.node.settings.data_dir
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "audit.sqlite" for p in files)
    loose = {str(p.relative_to(data_dir)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
             if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert loose == {}


class CountingStore(AccountStore):
    """Counts password hash checks: a login does the same work whatever the account's state."""

    verified = 0

    async def _verify(self, password_hash: str, password: str) -> bool:
        CountingStore.verified += 1
        return await super()._verify(password_hash, password)


@pytest.mark.parametrize("state", ["unknown", "wrong password", "locked", "disabled"])
async def test_login_does_the_same_work_whatever_the_account_state(tmp_path, state):
    """A locked account answered in 3 ms against 150 ms for a wrong password, so user names
    could be enumerated: every refusal now checks a password hash (counted, not timed)."""
    store = CountingStore(accounts_path(tmp_path), FieldCipher({"k": b"k" * 32}, "k"), AccountPolicy(max_failures=2))
    await store.open()
    try:
        await store.add_user("clerk01", "Window-Clerk-2026", Role.CLERK)
        if state == "locked":
            for _ in range(2):
                with pytest.raises(LoginRefused):
                    await store.authenticate("clerk01", "Wrong-Password-1")
        if state == "disabled":
            await store.disable("clerk01")
        CountingStore.verified = 0
        with pytest.raises(LoginRefused):
            await store.authenticate("nobody" if state == "unknown" else "clerk01",
                                     "Window-Clerk-2026" if state in ("locked", "disabled") else "Wrong-Password-1")
        assert CountingStore.verified == 1
    finally:
        await store.close()
