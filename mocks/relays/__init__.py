"""Mock relays (部级接口 gateway, provincial platform, national platform), one module each.

Written apart from connectors/: they speak the wire from INTERFACES.md §1, §3, §4 on their own."""
