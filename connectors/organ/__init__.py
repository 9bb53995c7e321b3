"""中编办 事业单位 / 机关群团 register (ZB01): bodies whose credit code starts with 1."""
from connectors.organ.client import OrganConnector

__all__ = ["OrganConnector"]
