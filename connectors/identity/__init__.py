"""公安部 人口库 身份核查 (GA02): name + resident ID number, several persons per call -> a verdict each."""
from connectors.identity.client import IdentityConnector

__all__ = ["IdentityConnector"]
