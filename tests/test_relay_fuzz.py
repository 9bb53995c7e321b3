"""Whatever a relay answers, ingress returns a RelayReply or raises an UpstreamError: never another
exception. Arbitrary bytes and arbitrary JSON envelopes near the documented shapes."""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base.errors import UpstreamError
from connectors.relay import (
    GatewayConfig,
    GatewayRelay,
    NationalConfig,
    NationalRelay,
    ProvincialConfig,
    ProvincialRelay,
    RelayReply,
    Service,
    ServiceCredential,
)
from mocks.relays.gateway import MockGateway

KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)
SEALER = MockGateway(KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), "u")
CREDENTIAL = ServiceCredential(rid="r@0", sid="s_0", appkey="k")
RELAYS = {
    "gateway": lambda tmp: GatewayRelay(GatewayConfig(base_url="http://127.0.0.1:1", public_key=SEALER.token,
                                                      region="340100", serial_file=str(tmp / "a"))),
    "provincial": lambda tmp: ProvincialRelay(ProvincialConfig(base_url="http://127.0.0.1:1", region="320100",
                                                               serial_file=str(tmp / "c"))),
    "national": lambda tmp: NationalRelay(NationalConfig(base_url="http://127.0.0.1:1", credentials={
        service: CREDENTIAL for service in Service})),
}
SERVICES = {"gateway": list(GatewayRelay.codes), "provincial": list(ProvincialRelay.codes), "national": list(Service)}

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12) | st.sampled_from(
    ["0200", "0", "1", "200", "0000", "2002", "0302", "0401", "9900", "", "<?xml", '"<?xml \\"'])
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(["status", "Status", "code", "data", "cxjg", "head",
                                                         "requestType", "biz_data", "secret", "x"]), inner, max_size=4),
                      max_leaves=12)
sealed_texts = st.sampled_from(['{"count":0}', "[]", "", "<?xml?><a/>", "garbage", '"\\q"', "{"]).map(
    lambda text: SEALER.seal(text.encode()))


def check(relay, service, body: bytes) -> None:
    try:
        assert isinstance(relay.ingress(service, body), RelayReply)
    except UpstreamError:
        pass


@pytest.mark.parametrize("name", list(RELAYS))
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_ingress_of_arbitrary_bytes(tmp_path, name, data):
    relay = RELAYS[name](tmp_path)
    check(relay, data.draw(st.sampled_from(SERVICES[name])), data.draw(st.binary(max_size=300)))


@pytest.mark.parametrize("name", list(RELAYS))
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_ingress_of_arbitrary_envelopes(tmp_path, name, data):
    relay = RELAYS[name](tmp_path)
    head = data.draw(st.dictionaries(st.sampled_from(["status", "STATUS", "code", "requestType", "cxqqdh"]),
                                     values, max_size=4))
    body = {"head": head, "data": data.draw(values | sealed_texts), "code": data.draw(values),
            "biz_data": data.draw(values)}
    check(relay, data.draw(st.sampled_from(SERVICES[name])), json.dumps(body).encode())
