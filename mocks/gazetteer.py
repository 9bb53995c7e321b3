"""Synthetic place-name register (地名信息库) over real GB/T 2260 divisions, from the seed.

Counties, their prefectures and provinces come from python-stdnum's division table (current
names, with the renames the table records); everything below a county is synthetic: townships
(街道/镇), streets (街路巷) and residential areas (居民点). Every street of an organisation's
domicile in the synthetic world exists here, so a case check sees one consistent world.

Place codes have 20 digits *(practice)*: the 12-digit statistical division code (county +
3-digit township + village `000`), the 4-digit type code and a 4-digit sequence.
Type codes follow the GB/T 18521 pattern (category, class, subclass) *(practice)*.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache

from pypinyin import lazy_pinyin
from stdnum import numdb

from mocks.world import World, division_name

# type code -> (category shown as 地名类别, subclass)
TYPES = {
    "1130": ("行政区域", "县级行政区域"),
    "1140": ("行政区域", "乡级行政区域"),
    "4110": ("居民点", "城镇居民点"),
    "4120": ("居民点", "农村居民点"),
    "5510": ("街路巷", "街路巷"),
}
# Whole counties of these provinces and prefectures are in the register.
COVERED = ("11", "31", "4401", "4403", "3301")

# Approximate inner box (lon_min, lat_min, lon_max, lat_max) of each province: points drawn
# inside stay within the province for these shapes.
PROVINCE_BOX = {
    "11": (115.9, 39.6, 117.1, 40.6), "12": (117.0, 38.8, 117.7, 39.8), "13": (114.5, 36.8, 117.0, 41.0),
    "14": (111.0, 35.5, 113.5, 39.5), "15": (107.0, 40.0, 117.0, 44.0), "21": (120.5, 40.0, 124.5, 42.5),
    "22": (124.0, 42.5, 128.5, 45.5), "23": (125.0, 45.0, 131.0, 48.5), "31": (121.1, 30.9, 121.8, 31.5),
    "32": (118.0, 31.5, 120.5, 34.0), "33": (119.0, 28.0, 121.0, 30.5), "34": (116.0, 30.5, 118.5, 33.5),
    "35": (116.5, 24.5, 119.5, 27.5), "36": (114.5, 25.5, 117.5, 29.0), "37": (115.5, 35.0, 121.0, 37.5),
    "41": (111.5, 32.5, 115.5, 35.5), "42": (109.5, 29.8, 115.5, 32.5), "43": (109.5, 25.5, 113.5, 29.5),
    "44": (111.0, 21.8, 116.5, 24.8), "45": (106.0, 22.0, 111.0, 25.5), "46": (108.9, 18.5, 110.8, 19.9),
    "50": (106.0, 28.8, 109.0, 31.5), "51": (102.5, 28.0, 107.5, 32.5), "52": (104.5, 25.0, 109.0, 28.5),
    "53": (99.0, 22.5, 104.5, 27.0), "54": (85.0, 29.0, 95.0, 32.5), "61": (106.5, 33.0, 110.5, 38.5),
    "62": (100.0, 35.0, 105.0, 39.0), "63": (94.0, 33.0, 101.0, 37.5), "64": (105.5, 36.0, 106.8, 38.8),
    "65": (78.0, 37.0, 92.0, 46.0), "71": (120.3, 22.5, 121.3, 24.8),
}

STEMS = {
    "人民": "寓意人民当家作主", "建设": "寓意建设新城", "和平": "寓意和平安宁", "幸福": "寓意生活幸福美满",
    "光明": "寓意前途光明", "胜利": "纪念抗日战争胜利", "解放": "纪念当地解放", "团结": "寓意各族人民团结",
    "文化": "因旧有文化馆得名", "学院": "因沿线高校集中得名", "育才": "因旁有育才学校得名", "长安": "取长治久安之意",
    "安定": "取安定祥和之意", "永安": "取永久安宁之意", "兴业": "寓意兴旺发达", "翠微": "因远望青山翠微得名",
    "青年": "因青年突击队修筑得名", "工农": "寓意工农联盟", "朝阳": "取旭日东升之意", "丰收": "寓意五谷丰收",
    "枫林": "因沿途枫树成林得名", "桃源": "取世外桃源之意", "滨河": "因沿河而建得名", "望京": "因可远眺京城得名",
    "花园": "因旧有花园得名", "东风": "寓意东风浩荡", "红旗": "寓意红旗飘扬", "新华": "寓意新中国繁荣",
    "振兴": "寓意振兴发展", "友谊": "纪念国际友谊",
}
STREET_SUFFIX = ("路", "街", "大街", "巷", "胡同", "东路", "西路", "北路", "南路")
AREA_SUFFIX = ("小区", "花园", "家园", "新村", "苑", "里")
TOWNSHIP_SUFFIX = ("街道", "街道", "镇")
# Generic parts (通名), longest first: spelled as a separate word (GB 17693 practice).
GENERIC = ("街道", "新区", "自治县", "大街", "胡同", "小区", "家园", "花园", "新村",
           "路", "街", "巷", "区", "县", "市", "镇", "乡", "村", "苑", "里", "省")


@dataclass(frozen=True)
class Place:
    code: str  # 20 digits
    name: str
    roman: str
    type_code: str
    county_code: str  # 6 digits GB/T 2260
    county_path: str  # 省 市 县 names
    township_code: str  # 12 digits, "" for a county or province itself
    township_name: str
    longitude: float
    latitude: float
    meaning: str
    origin: str
    former_names: tuple[tuple[int, str], ...] = ()  # (year the name changed, old name), oldest first

    @property
    def category(self) -> str:
        return TYPES[self.type_code][0]


# ------------------------------------------------------------------ divisions


_PERIOD = re.compile(r"^\[(\d{4})?-(\d{4})?\](.+)$")


def _periods(text: str) -> list[tuple[int | None, int | None, str]]:
    """'[-1991]东郊区,[1992-]东丽区' -> [(None, 1991, '东郊区'), (1992, None, '东丽区')]."""
    out = []
    for part in text.split(","):
        match = _PERIOD.match(part)
        if match:
            start, end, name = match.groups()
            out.append((int(start) if start else None, int(end) if end else None, name))
        else:
            out.append((None, None, part))
    return out


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    path: str
    renames: tuple[tuple[int, str], ...]  # (year, former name) from the division table


@cache
def current_divisions() -> dict[str, Division]:
    """Every county-level division in force today, by code, with its name path and renames."""
    db = numdb.get("cn/loc")
    out: dict[str, Division] = {}
    for _, province_code, _, props, children in db.prefixes:
        province = props["province"]
        prefectures: dict[str, str] = {}
        counties: list[tuple[str, list]] = []
        ended: dict[str, list[tuple[int, str, str]]] = {}  # stem -> (end year, name, code)
        for _, sub, _, sub_props, _ in children:
            periods = _periods(sub_props["county"])
            code = province_code + sub
            for _, end, name in periods:
                if end is not None:
                    ended.setdefault(_stem(name), []).append((end, name, code))
            if sub == "0000":
                continue
            if sub.endswith("00"):
                prefectures[sub[:2]] = periods[-1][2]
            elif periods[-1][1] is None:
                counties.append((code, periods))
        for code, periods in counties:
            name = periods[-1][2]
            renames = [(start, old) for (_, _, old), (start, _, _) in zip(periods, periods[1:]) if start]
            start = periods[-1][0]
            for end, old, old_code in ended.get(_stem(name), []):
                if old_code != code and start and end in (start, start - 1) and old != name:
                    renames.append((start, old))
            prefecture = prefectures.get(code[2:4], "")
            prefecture = "" if prefecture in ("市辖区", "县") or prefecture.startswith("省直辖") else prefecture
            out[code] = Division(code, name, province + prefecture + name, tuple(sorted(set(renames))))
    return out


def _stem(name: str) -> str:
    for generic in GENERIC:
        if name.endswith(generic) and len(name) > len(generic):
            return name[: -len(generic)]
    return name


# ------------------------------------------------------------------ spelling


def roman(name: str) -> str:
    """Hanyu Pinyin spelling of a place name: specific part joined, generic part apart, a
    direction before 路/街 joined to the generic ("Renmin Donglu"), an apostrophe before
    a, o, e inside a word ("Chang'an Jie")."""
    split = len(name)
    for part in GENERIC:
        if name.endswith(part) and len(name) > len(part):
            split = len(name) - len(part)
            if part in ("路", "街", "大街") and split > 1 and name[split - 1] in "东西南北中":
                split -= 1
            break
    # Spell the whole name at once: phrase readings depend on context (朝阳区 Chaoyang).
    syllables = lazy_pinyin(name)
    if len(syllables) != len(name):
        return _word(syllables)
    return " ".join(w for w in (_word(syllables[:split]), _word(syllables[split:])) if w)


def _word(syllables: list[str]) -> str:
    text = "".join(("'" + s) if i and s[:1] in ("a", "o", "e") else s for i, s in enumerate(syllables))
    return text[:1].upper() + text[1:]


# ------------------------------------------------------------------ the register


class Gazetteer:
    """All places, and the lookups the department offers."""

    def __init__(self, places: list[Place]) -> None:
        self.places = sorted(places, key=lambda p: p.code)

    def exact(self, name: str) -> list[Place]:
        """By standard name or by a former name (a renamed street is found by its old name)."""
        return [p for p in self.places if p.name == name or any(old == name for _, old in p.former_names)]

    def prefix(self, text: str) -> list[Place]:
        return [p for p in self.places
                if p.name.startswith(text) or any(old.startswith(text) for _, old in p.former_names)]

    def within(self, division_code: str) -> list[Place]:
        """Places inside a 6-digit division (province, prefecture or county: trailing `00`
        pairs are dropped) or a 12-digit one (trailing `000` groups dropped)."""
        significant = re.sub(r"(000)+$" if len(division_code) == 12 else r"(00)+$", "", division_code)
        return [p for p in self.places if p.code[:12].startswith(significant)]


@cache
def gazetteer(world: World) -> Gazetteer:
    return Gazetteer(_generate(world))


def _covered_counties(world: World) -> list[str]:
    divisions = current_divisions()
    codes = {c for c in divisions if c.startswith(COVERED)}
    codes |= {o.division_code for o in world.organizations if o.division_code in divisions}
    return sorted(codes)


def _domicile_roads(world: World) -> dict[str, set[str]]:
    """County code -> road names of organisations' domiciles ("...华路12号" -> "华路")."""
    roads: dict[str, set[str]] = {}
    for org in world.organizations:
        head = division_name(org.division_code)
        match = re.match(r"^(.+?路)\d+号$", org.domicile.removeprefix(head)) if org.domicile.startswith(head) else None
        if match:
            roads.setdefault(org.division_code, set()).add(match.group(1))
    return roads


def _point(rng: random.Random, box: tuple[float, float, float, float]) -> tuple[float, float]:
    return round(rng.uniform(box[0], box[2]), 6), round(rng.uniform(box[1], box[3]), 6)


def _generate(world: World) -> list[Place]:
    rng = random.Random(f"place-names-{world.seed}")
    divisions = current_divisions()
    roads = _domicile_roads(world)
    places: list[Place] = []
    renamed_2015 = False
    for county_code in _covered_counties(world):
        county = divisions[county_code]
        box = PROVINCE_BOX.get(county_code[:2])
        if box is None:
            continue
        lon, lat = _point(rng, box)
        places.append(Place(
            code=f"{county_code}000000" + "1130" + "0001", name=county.name, roman=roman(county.name), type_code="1130",
            county_code=county_code, county_path=county.path, township_code="", township_name="",
            longitude=lon, latitude=lat, meaning=f"{county.name}为县级行政区域", origin="据国家行政区划代码表",
            former_names=county.renames))
        near = (lon - 0.06, lat - 0.05, lon + 0.06, lat + 0.05)
        townships = []
        stems = rng.sample(sorted(STEMS), 4)
        for i, stem in enumerate(stems[: rng.randint(2, 4)], start=1):
            name = stem + rng.choice(TOWNSHIP_SUFFIX)
            township_code = f"{county_code}{i:03d}000"
            townships.append((township_code, name))
            tlon, tlat = _point(rng, near)
            places.append(Place(
                code=f"{township_code}1140{1:04d}", name=name, roman=roman(name), type_code="1140",
                county_code=county_code, county_path=county.path, township_code=township_code, township_name=name,
                longitude=tlon, latitude=tlat, meaning=STEMS[stem], origin=f"{rng.randrange(1950, 2010)}年设立"))
        used: set[str] = {county.name}
        streets = [stem + rng.choice(STREET_SUFFIX) for stem in rng.sample(sorted(STEMS), 6)]
        streets += sorted(roads.get(county_code, ()))
        sequence = 0
        for street in streets:
            if street in used:
                continue
            used.add(street)
            sequence += 1
            township_code, township_name = rng.choice(townships)
            former: tuple[tuple[int, str], ...] = ()
            if not renamed_2015:  # one road renamed in 2015: the sample for 变更 registrations
                former, renamed_2015 = ((2015, _old_name(rng, street, used, stems=("红星",))),), True
            elif rng.random() < 0.15 and (old := _old_name(rng, street, used)):
                former = ((rng.randrange(1958, 2022), old),)
            stem = _stem(street).rstrip("东西南北")
            built = rng.randrange(1900, 2015)
            plon, plat = _point(rng, near)
            places.append(Place(
                code=f"{township_code}5510{sequence:04d}", name=street, roman=roman(street), type_code="5510",
                county_code=county_code, county_path=county.path, township_code=township_code,
                township_name=township_name, longitude=plon, latitude=plat,
                meaning=STEMS.get(stem, "以沿线商号得名"), origin=f"{built}年建成",
                former_names=former))
        for stem in rng.sample(sorted(STEMS), 4):
            township_code, township_name = rng.choice(townships)
            rural = township_name.endswith("镇") and rng.random() < 0.5
            name = stem + ("村" if rural else rng.choice(AREA_SUFFIX))
            if name in used:
                continue
            used.add(name)
            sequence += 1
            type_code = "4120" if rural else "4110"
            plon, plat = _point(rng, near)
            places.append(Place(
                code=f"{township_code}{type_code}{sequence:04d}", name=name, roman=roman(name), type_code=type_code,
                county_code=county_code, county_path=county.path, township_code=township_code,
                township_name=township_name, longitude=plon, latitude=plat,
                meaning=STEMS[stem], origin=f"{rng.randrange(1980, 2020)}年建成"))
    return places


# Specific parts of former names; 红星 is kept for the one 2015 rename, so its old name is unique.
OLD_STEMS = ("反帝", "东方红", "工人", "红卫", "前进", "跃进", "向阳", "卫东", "新生", "大同")


def _old_name(rng: random.Random, street: str, used: set[str], stems: tuple[str, ...] = OLD_STEMS) -> str | None:
    """A former name not used in the county, or None when every candidate is taken."""
    suffix = next((s for s in ("大街", "胡同", "路", "街", "巷") if street.endswith(s)), "路")
    free = [stem + suffix for stem in stems if stem + suffix not in used]
    if not free:
        return None
    name = rng.choice(free)
    used.add(name)
    return name
