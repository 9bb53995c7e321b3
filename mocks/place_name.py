"""Mock Ministry of Civil Affairs place-name service (民政部 地名信息库 查询接口).

Its habits differ from the other departments on purpose:

- GET query API: `GET /dmfw/api/v1/dmxx` with either `bzmc` (name) and `cxfs` (`jq` exact,
  `qz` prefix) or `xzqhdm` (6- or 12-digit division code), and `size` (1-100, default 10).
- Authentication by a daily API key, never the secret itself: headers `X-App-Id` and
  `X-Api-Key` = hex HMAC-SHA256(secret, "<app_id>:<YYYYMMDD>") for the date in Asia/Shanghai;
  the keys of the day before and after are accepted too (clocks around midnight).
- Application errors come back as HTTP 200 with a non-zero `errcode`: 40001 bad parameters,
  40101 bad API key, 50301 maintenance.
- Success: `{"errcode": 0, "errmsg": "ok", "total": N, "rows": [...]}`, at most `size` rows,
  `total` counts every match. Rows use pinyin-initial field names: dmdm 地名代码 (20 digits),
  bzmc 标准名称, lmpy 罗马字母拼写, dmlb 地名类别, dmlbdm 类别代码, xzqhdm/xzqhmc county code
  and name path, xzdm/xzmc township (empty for a county), dmhy 含义, dmly 来历, lsyg 历史沿革,
  cym 曾用名 `[{"mc": old name, "bgnf": year changed}]`, geometry (GeoJSON Point, WGS 84).
- A name search also matches former names (曾用名): the record comes back under its
  current standard name with the rename in `cym`, which is what a 变更 registration needs.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from mocks.gazetteer import TYPES, Place, gazetteer
from mocks.server import MockDepartment
from mocks.world import World

MAX_SIZE = 100
_DIVISION_LENGTHS = (6, 12)


def api_key(secret: str, app_id: str, day: str) -> str:
    return hmac.new(secret.encode(), f"{app_id}:{day}".encode(), hashlib.sha256).hexdigest()


def row(place: Place) -> dict:
    """One place as the register writes it."""
    return {
        "dmdm": place.code, "bzmc": place.name, "lmpy": place.roman,
        "dmlb": place.category, "dmlbdm": place.type_code,
        "xzqhdm": place.county_code, "xzqhmc": place.county_path,
        "xzdm": place.township_code, "xzmc": place.township_name if place.township_code else "",
        "dmhy": place.meaning, "dmly": place.origin,
        "lsyg": "；".join(f"{year}年由{old}更名为{place.name}" for year, old in place.former_names),
        "cym": [{"mc": old, "bgnf": year} for year, old in place.former_names],
        "geometry": {"type": "Point", "coordinates": [place.longitude, place.latitude]},
    }


def _reply(payload: dict) -> web.Response:
    return web.Response(text=json.dumps(payload, ensure_ascii=False), content_type="application/json",
                        charset="utf-8")


class PlaceNameDepartment(MockDepartment):
    name = "place_name"

    def __init__(self, world: World, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.register = gazetteer(world)
        self.request_ids: list[str] = []
        self.maintenance = False
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/dmfw/api/v1/dmxx", self.query)

    def _key_ok(self, headers) -> bool:
        secret = self.secrets.get(headers.get("X-App-Id", ""))
        if secret is None:
            return False
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        given = headers.get("X-Api-Key", "")
        return any(hmac.compare_digest(api_key(secret, headers["X-App-Id"], (today + timedelta(days=d)).strftime("%Y%m%d")),
                                       given) for d in (-1, 0, 1))

    async def query(self, request: web.Request) -> web.Response:
        self.request_ids.append(request.headers.get("X-Request-Id", ""))
        if self.maintenance:
            return _reply({"errcode": 50301, "errmsg": "系统维护中，请稍后再试"})
        if not self._key_ok(request.headers):
            self.stats["refused"] += 1
            return _reply({"errcode": 40101, "errmsg": "API Key 无效"})
        params = request.query
        name, mode, division, size = (params.get(k, "") for k in ("bzmc", "cxfs", "xzqhdm", "size"))
        limit = 10 if not size else int(size) if size.isdigit() else 0
        if not 1 <= limit <= MAX_SIZE:
            return _reply({"errcode": 40001, "errmsg": "参数错误：size"})
        if bool(name) == bool(division) or (name and mode not in ("jq", "qz")) or \
                (division and (not division.isdigit() or len(division) not in _DIVISION_LENGTHS)):
            return _reply({"errcode": 40001, "errmsg": "参数错误"})
        if division:
            found = self.register.within(division)
        else:
            found = self.register.exact(name) if mode == "jq" else self.register.prefix(name)
        return _reply({"errcode": 0, "errmsg": "ok", "total": len(found), "rows": [row(p) for p in found[:limit]]})


def samples(world: World) -> dict:
    """Place-name searches with known outcomes (for samples.json)."""
    register = gazetteer(world)
    renamed = next(p for p in register.places if p.former_names and p.former_names[0][0] == 2015
                   and p.category == "街路巷")
    streets = [p for p in register.places if p.category == "街路巷" and not p.former_names]
    shared = next(p.name for p in streets if len(register.exact(p.name)) >= 3)
    unique = next(p for p in streets if len(register.exact(p.name)) == 1 and len(p.name) >= 3)
    stem = shared[:2]
    county = register.places[0]
    township = next(p for p in register.places if TYPES[p.type_code][1] == "乡级行政区域")
    return {
        "exact": [{"label": "street, unique name", "name": unique.name, "code": unique.code,
                   "division_code": unique.county_code}],
        "exact_several": [{"label": "street name used in several counties", "name": shared,
                           "count": len(register.exact(shared))}],
        "prefix": [{"label": "fuzzy prefix, several results", "name": stem, "count": len(register.prefix(stem))}],
        "division": [
            {"label": "county (GB/T 2260)", "division_code": county.county_code,
             "count": len(register.within(county.county_code))},
            {"label": "township (12-digit statistical code)", "division_code": township.township_code,
             "count": len(register.within(township.township_code))},
        ],
        "renamed": [{"label": "road renamed in 2015: the old name finds the record under its new name",
                     "old_name": renamed.former_names[0][1], "name": renamed.name, "code": renamed.code,
                     "renamed_in": 2015}],
        "not_found": [{"label": "no such place", "name": "不存在的测试路"}],
    }
