"""民政部 地名信息库: standard place names by name (exact or prefix) or by division code."""
from connectors.place_name.client import PlaceNameConnector

__all__ = ["PlaceNameConnector"]
