"""卫健委 death medical certificate: name + ID number -> date of death, certificate, issuer, cause."""
from connectors.death.client import DeathConnector

__all__ = ["DeathConnector"]
