"""最高人民法院 judgment query: asynchronous submit + fetch, XML records, base64 HTML documents."""
from connectors.court.client import CourtConnector

__all__ = ["CourtConnector"]
