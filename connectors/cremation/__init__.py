"""民政部 殡葬服务 火化信息 (zw_civil_crem): the second source of deaths."""
from connectors.cremation.client import CremationConnector

__all__ = ["CremationConnector"]
