"""民政部 marriage registration: registration acts of a person or a couple -> current status."""
from connectors.marriage.client import MarriageConnector

__all__ = ["MarriageConnector"]
