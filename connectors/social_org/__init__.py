"""民政部 社会组织 register (MZ02): 社会团体, 民办非企业单位, 基金会; credit codes starting with 5."""
from connectors.social_org.client import SocialOrgConnector

__all__ = ["SocialOrgConnector"]
