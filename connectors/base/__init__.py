"""The connector contract: what every department connector offers and may raise."""
from connectors.base.contract import CallInfo, Connector, ConnectorConfig
from connectors.base.errors import (
    BadUpstream,
    RateLimited,
    Rejected,
    Timeout,
    Unavailable,
    Undecided,
    UpstreamError,
)

__all__ = [
    "BadUpstream", "CallInfo", "Connector", "ConnectorConfig", "RateLimited", "Rejected",
    "Timeout", "Unavailable", "Undecided", "UpstreamError",
]
