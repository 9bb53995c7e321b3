"""公安部 identity check: name + resident ID number -> per-item check code."""
from connectors.identity.client import IdentityConnector

__all__ = ["IdentityConnector"]
