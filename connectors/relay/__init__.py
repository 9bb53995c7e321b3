"""Relays: how a centre's request reaches a ministry service (部级接口 gateway, provincial and
national platforms). See `contract.py`; one module per relay."""
from connectors.relay.contract import Relay, RelayReply, Service
from connectors.relay.gateway import GatewayConfig, GatewayRelay
from connectors.relay.national import NationalConfig, NationalRelay, ServiceCredential
from connectors.relay.provincial import ProvincialConfig, ProvincialRelay

__all__ = ["GatewayConfig", "GatewayRelay", "NationalConfig", "NationalRelay", "ProvincialConfig",
           "ProvincialRelay", "Relay", "RelayReply", "Service", "ServiceCredential"]
