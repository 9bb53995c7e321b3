"""市场监管总局 enterprise register: organisation by unified social credit code or exact name."""
from connectors.credit_code.client import CreditCodeConnector

__all__ = ["CreditCodeConnector"]
