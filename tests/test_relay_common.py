"""What the relays share: the daily request serial (unique across coroutines, processes and restarts),
the key material made on first run, and the lenient reading of envelope fields and escaped text."""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import stat
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from connectors.base.errors import BadUpstream, Unavailable
from connectors.relay import GatewayConfig, GatewayRelay, Service
from connectors.relay.contract import field_of, unescape_text
from connectors.relay.credentials import ensure_relay_credentials
from connectors.relay.serial import DailySerial, request_number

DAY = "20240105"


async def test_serials_are_unique_and_in_order_within_a_process(tmp_path):
    serial = DailySerial(tmp_path / "serial", block=8)
    numbers = await asyncio.gather(*(serial.take(DAY) for _ in range(100)))
    assert sorted(numbers) == list(range(1, 101))


async def test_a_restart_never_reuses_a_number(tmp_path):
    first = DailySerial(tmp_path / "serial", block=10)
    used = [await first.take(DAY) for _ in range(3)]
    restarted = DailySerial(tmp_path / "serial", block=10)  # same file, fresh process state
    after = [await restarted.take(DAY) for _ in range(3)]
    assert min(after) > max(used)  # the rest of the first block is skipped, not reused


async def test_the_serial_restarts_each_day(tmp_path):
    serial = DailySerial(tmp_path / "serial")
    assert [await serial.take(DAY) for _ in range(2)] == [1, 2]
    assert await serial.take("20240106") == 1


async def test_a_day_used_up_is_unavailable(tmp_path):
    (tmp_path / "serial").write_text(f"{DAY} 1000000")
    with pytest.raises(Unavailable):
        await DailySerial(tmp_path / "serial").take(DAY)


def _take_many(path: str, count: int, queue) -> None:
    async def run() -> list[int]:
        serial = DailySerial(path, block=4)
        return [await serial.take(DAY) for _ in range(count)]
    queue.put(asyncio.run(run()))


def test_worker_processes_sharing_the_file_never_collide(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_take_many, args=(str(tmp_path / "serial"), 50, queue)) for _ in range(3)]
    for worker in workers:
        worker.start()
    numbers = [n for _ in workers for n in queue.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=60)
    assert len(numbers) == 150 and len(set(numbers)) == 150


async def test_request_number_is_date_region_serial(tmp_path):
    now = datetime(2024, 1, 4, 17, 30, tzinfo=ZoneInfo("UTC"))  # already the 5th in Shanghai
    assert await request_number(DailySerial(tmp_path / "s"), "340100", now) == "20240105340100000001"


def test_key_material_is_made_once_with_private_modes(tmp_path):
    folder = tmp_path / "keys"
    paths = ensure_relay_credentials(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert set(paths) == {"bjjk-private-key.pem", "bjjk.json", "sjpt.json", "gjpt.json"}
    for path in paths.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = {name: path.read_bytes() for name, path in paths.items()}
    ensure_relay_credentials(folder)
    assert {name: path.read_bytes() for name, path in paths.items()} == before  # first run only

    gateway = json.loads(before["bjjk.json"])
    assert len(gateway["user_id"]) == 32 and gateway["public_key"].startswith("MIGfMA0G")
    relay = GatewayRelay(GatewayConfig(base_url="http://127.0.0.1:1", region="340100", **gateway))
    assert relay.key.key_size == 1024  # 117-byte blocks
    national = json.loads(before["gjpt.json"])
    assert all(Service(name) and {"rid", "sid", "appkey"} <= set(value) for name, value in national.items())
    assert {"username", "password"} <= set(national[Service.DEATH_CERTIFICATE])  # the SOAP login
    assert len(json.loads(before["sjpt.json"])["password"]) == 32


def test_half_made_gateway_keys_are_made_anew(tmp_path):
    paths = ensure_relay_credentials(tmp_path)
    old = paths["bjjk.json"].read_text()
    paths["bjjk-private-key.pem"].unlink()
    ensure_relay_credentials(tmp_path)
    assert paths["bjjk-private-key.pem"].exists() and paths["bjjk.json"].read_text() != old


def test_envelope_fields_match_in_any_case():
    head = {"Status": "0200", "CXQQDH": "20240105340100000001"}
    assert field_of(head, "status") == "0200" and field_of(head, "cxqqdh") == "20240105340100000001"
    assert field_of({"status": "1", "STATUS": "2"}, "status") == "1"  # the exact spelling wins
    assert field_of(head, "data") is None


@pytest.mark.parametrize(("wire", "text"), [
    ('<?xml version="1.0"?><a>x</a>', '<?xml version="1.0"?><a>x</a>'),
    ('"<?xml version=\\"1.0\\"?>\\n<a>x<\\/a>"', '<?xml version="1.0"?>\n<a>x</a>'),
    ('<?xml version=\\"1.0\\"?><a>x<\\/a>', '<?xml version="1.0"?><a>x</a>'),
    ("", ""),
    ("<a>C:\\new\\data</a>", "<a>C:\\new\\data</a>"),  # backslashes that are not escapes stay
])
def test_escaped_text_is_unescaped(wire, text):
    assert unescape_text("relay", wire) == text


def test_broken_escapes_are_bad_upstream():
    with pytest.raises(BadUpstream):
        unescape_text("relay", '"<a>\\q</a>"')
