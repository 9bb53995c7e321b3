"""Field encryption (AES-256-GCM, SM4-GCM, key rotation), encrypted cache values read raw
from the real Redis, blind indexes, and TLS to departments verified against the demo CA."""
from __future__ import annotations

import os
import secrets

import pytest
import redis.asyncio as aioredis

from querynode.config import CacheSettings, SecretStr, SecuritySettings
from querynode.core.operations import registry
from querynode.domain.model import IdentityQuery
from querynode.security.blind_index import BlindIndex, identifier_digest, query_digest, subject_index
from querynode.security.field_crypto import FieldCipher, FieldCryptoError, read_key_file
from querynode.security.tls import ensure_demo_pki, make_ca, server_ssl_context
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, make_settings, start_node

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("algorithm,size", [("aes-256-gcm", 32), ("sm4-gcm", 16)])
def test_seal_and_open_and_refuse_tampering(algorithm, size):
    cipher = FieldCipher({"k1": os.urandom(size)}, "k1", algorithm)
    plain = "龙怡颖 132929197312070724".encode()
    sealed = cipher.seal(plain, aad=b"key-a")
    assert plain not in sealed and b"132929197312070724" not in sealed
    assert cipher.open(sealed, aad=b"key-a") == plain
    assert FieldCipher.key_id_of(sealed) == "k1"
    with pytest.raises(FieldCryptoError):
        cipher.open(sealed, aad=b"key-b")  # moved to another place
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(FieldCryptoError):
        cipher.open(bytes(flipped), aad=b"key-a")
    with pytest.raises(FieldCryptoError):
        cipher.open(b"plain json", aad=b"key-a")


def test_rotation_keeps_old_values_readable_and_seals_new_ones_with_the_new_key():
    k1, k2 = os.urandom(32), os.urandom(32)
    old = FieldCipher({"k1": k1}, "k1").seal(b"secret", aad=b"x")
    rotated = FieldCipher({"k1": k1, "k2": k2}, "k2")
    assert rotated.open(old, aad=b"x") == b"secret"
    new = rotated.seal(b"secret", aad=b"x")
    assert FieldCipher.key_id_of(new) == "k2"
    with pytest.raises(FieldCryptoError, match="unknown key id"):
        FieldCipher({"k2": k2}, "k2").open(old, aad=b"x")  # k1 retired: refused, never garbage


def test_bad_key_configuration_is_refused(tmp_path):
    with pytest.raises(ValueError, match="32 bytes"):
        FieldCipher({"k1": os.urandom(16)}, "k1", "aes-256-gcm")
    with pytest.raises(ValueError, match="not in the key ring"):
        FieldCipher({"k1": os.urandom(32)}, "k2")
    key_file = tmp_path / "field.keys"
    key_file.write_text(f"# old\nk1 {os.urandom(32).hex()}\nk2 {os.urandom(32).hex()}\n")
    keys, current = read_key_file(key_file)
    assert list(keys) == ["k1", "k2"] and current == "k2"
    key_file.write_text("k1 not-hex\n")
    with pytest.raises(ValueError, match="not hex"):
        read_key_file(key_file)


@pytest.mark.parametrize("algorithm", ["sha256", "sm3"])
def test_blind_index_is_keyed_and_finds_identifiers(algorithm):
    key = os.urandom(32)
    index, other = BlindIndex(key, algorithm), BlindIndex(os.urandom(32), algorithm)
    query = IdentityQuery(id_number="132929197312070724", name="龙怡颖")
    subject = subject_index(index, "VerifyIdentity", query)
    assert identifier_digest(index, "132929197312070724") in subject.split()
    assert identifier_digest(index, " 132929197312070724 ") == identifier_digest(index, "132929197312070724")
    assert identifier_digest(other, "132929197312070724") not in subject
    assert "132929197312070724" not in subject
    assert BlindIndex(key, "sha256").digest("a") != BlindIndex(key, "sm3").digest("a")


async def test_redis_cache_values_hold_no_personal_data_and_survive_key_rotation(tmp_path, identity_mock, dept_secret, samples):
    person = samples["identity"]["match"][0]
    k1, k2 = secrets.token_hex(32), secrets.token_hex(32)
    node_key = secrets.token_hex(32)  # the same node across the restart: same cache keys

    def settings(keys: dict[str, str], current: str):
        return make_settings(tmp_path, {"identity": identity_mock.url}, dept_secret,
                             cache=CacheSettings(backend="redis", redis_url=REDIS_URL),
                             security=SecuritySettings(field_keys={k: SecretStr(v) for k, v in keys.items()},
                                                       field_key_current=current)).model_copy(
            update={"node_key": SecretStr(node_key)})

    request = pb.VerifyIdentityRequest(context=ctx(), id_number=person["id_number"], name=person["name"])
    running, stop = await start_node(settings({"k1": k1}, "k1"))
    try:
        assert (await running.stub.VerifyIdentity(request)).verdict == pb.IDENTITY_VERDICT_MATCH
        key = running.node.hub.cache.key(registry().operations["VerifyIdentity"], query_digest(
            running.node.hub.index, "VerifyIdentity", IdentityQuery(person["id_number"], person["name"])))
    finally:
        await stop()
    client = aioredis.from_url(REDIS_URL)
    try:
        raw = await client.get("querynode:" + key)
        assert raw is not None, "the answer must be in Redis"
        assert raw.startswith(b"QE1") and FieldCipher.key_id_of(raw) == "k1"
        for text in (person["name"], person["id_number"], person["id_number"][-8:]):
            assert text.encode() not in raw and text not in key
        assert b"MATCH" not in raw  # the result itself is sealed too
        # Every value any node put in this Redis is sealed (nothing in clear, whoever wrote it).
        async for other in client.scan_iter(match="querynode:qn:v1:*"):
            value = await client.get(other)
            assert value is None or value.startswith(b"QE1")
    finally:
        await client.aclose()

    # Key 2 becomes current, key 1 stays in the ring: the old entry is still a cache hit.
    running, stop = await start_node(settings({"k1": k1, "k2": k2}, "k2"))
    try:
        reply = await running.stub.VerifyIdentity(request)
        assert reply.verdict == pb.IDENTITY_VERDICT_MATCH and reply.provenance.from_cache
        assert identity_mock.stats["requests"] == 1
    finally:
        await stop()


async def test_memory_cache_values_are_sealed(node, samples):
    person = samples["identity"]["match"][1]
    await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(context=ctx(), id_number=person["id_number"],
                                                            name=person["name"]))
    values = list(node.node.hub.cache.backend._cache.values())
    assert values
    for value in values:
        assert value.startswith(b"QE1")
        assert person["name"].encode() not in value and person["id_number"].encode() not in value


# ------------------------------------------------------------ TLS to departments



@pytest.fixture(scope="session")
def samples(world):
    """The few known persons and companies these tests need, straight from the shared world
    (every person of the world is a match at the identity mock)."""
    return {
        "identity": {"match": [{"id_number": p.id_number, "name": p.name} for p in world.persons[:5]]},
        "credit_code": {"active": [{"credit_code": o.credit_code} for o in world.organizations
                                   if o.status == "存续"][:1]},
    }

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_demo_pki(tmp_path_factory.mktemp("pki"))


async def https_identity(start_mock, pki):
    from mocks.identity import IdentityDepartment

    dept = await start_mock(IdentityDepartment)
    await dept.stop()
    await dept.start(ssl_context=server_ssl_context(pki.server_cert, pki.server_key))
    assert dept.url.startswith("https://")
    return dept


async def test_https_department_verified_against_the_configured_ca(tmp_path, start_mock, pki, dept_secret, samples):
    dept = await https_identity(start_mock, pki)
    settings = make_settings(tmp_path, {"identity": dept.url}, dept_secret)
    settings.departments["identity"].ca_file = pki.ca_cert
    running, stop = await start_node(settings)
    try:
        assert running.node.plain_http_departments == ()
        person = samples["identity"]["match"][0]
        reply = await running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
            context=ctx(), id_number=person["id_number"], name=person["name"]))
        assert reply.verdict == pb.IDENTITY_VERDICT_MATCH
    finally:
        await stop()


async def test_department_certificate_from_another_ca_is_refused(tmp_path, start_mock, pki, dept_secret, samples):
    dept = await https_identity(start_mock, pki)
    rogue_ca = tmp_path / "other-ca.pem"
    rogue_ca.write_bytes(make_ca("another CA").cert_pem)
    settings = make_settings(tmp_path, {"identity": dept.url}, dept_secret)
    settings.departments["identity"].ca_file = rogue_ca
    running, stop = await start_node(settings)
    try:
        person = samples["identity"]["match"][0]
        reply = await running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
            context=ctx(), id_number=person["id_number"], name=person["name"]))
        assert reply.verdict == pb.IDENTITY_VERDICT_SOURCE_UNAVAILABLE
        assert dept.stats["requests"] == 0  # the handshake failed: no request was sent
    finally:
        await stop()


async def test_plain_http_department_needs_explicit_permission_and_is_reported(tmp_path, identity_mock, dept_secret):
    from querynode.node import Node

    settings = make_settings(tmp_path, {"identity": identity_mock.url}, dept_secret)
    settings.departments["identity"].allow_plain_http = False
    with pytest.raises(ValueError, match="allow_plain_http"):
        await Node.start(settings)
    settings.departments["identity"].allow_plain_http = True
    node = await Node.start(settings)
    try:
        assert node.plain_http_departments == ("identity",)
    finally:
        await node.close()


async def test_a_lookup_computes_each_blind_index_once(node, people, monkeypatch):
    """The audit subject, the cache key and abuse detection share one set of digests: the
    query's and the ID number's, one keyed hash each per lookup, not one per stage."""
    person = people[2]
    request = pb.VerifyIdentityRequest(context=ctx(), id_number=person.id_number, name=person.name)
    await node.stub.VerifyIdentity(request)
    digests = []
    digest = BlindIndex.digest
    monkeypatch.setattr(BlindIndex, "digest", lambda self, *parts: (digests.append(parts[0]), digest(self, *parts))[1])
    reply = await node.stub.VerifyIdentity(request)
    assert reply.provenance.from_cache
    assert sorted(digests) == ["VerifyIdentity", "identifier"]
