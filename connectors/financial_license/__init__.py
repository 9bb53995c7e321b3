"""金融监管总局 licence register: financial licence by licence code or institution name."""
from connectors.financial_license.client import FinancialLicenseConnector

__all__ = ["FinancialLicenseConnector"]
