"""Mock relays (部级接口 gateway, provincial platform, national platform), one module each.

Written apart from connectors/: they speak the wire from INTERFACES.md §1, §3, §4 on their own."""
from __future__ import annotations

import json
from pathlib import Path

from mocks.relays.common import MockRelay
from mocks.relays.gateway import MockGateway
from mocks.relays.national import MockNational
from mocks.relays.provincial import MockProvincial


def relays_over(departments: list, keys: Path) -> dict[str, MockRelay]:
    """The three mock relays, holding the key files in `keys`, carrying the departments' answers."""
    bjjk = json.loads((keys / "bjjk.json").read_text(encoding="utf-8"))
    sjpt = json.loads((keys / "sjpt.json").read_text(encoding="utf-8"))
    gjpt = json.loads((keys / "gjpt.json").read_text(encoding="utf-8"))
    relays: dict[str, MockRelay] = {
        "gateway": MockGateway((keys / "bjjk-private-key.pem").read_bytes(), bjjk["user_id"]),
        "provincial": MockProvincial(sjpt["username"], sjpt["password"]),
        "national": MockNational.issuing(gjpt),
    }
    for relay in relays.values():
        relay.carry(departments)
    return relays


def manifest(departments: list, relays: dict[str, MockRelay], host: str = "127.0.0.1") -> dict:
    """Where each relay listens and which services (cxywlb codes) each carried department answers."""
    return {"relays": {kind: relay.url.replace("127.0.0.1", host) for kind, relay in relays.items()},
            "departments": {dept.name: sorted(answers) for dept in departments
                            if (answers := getattr(dept, "answers", dict)())}}
