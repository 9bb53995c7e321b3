"""A deterministic synthetic population: valid ID numbers from real division codes,
realistic names (compound surnames, minority names with ·), Hong Kong/Macao/Taiwan
residence permits and foreigners' permanent residence cards.

The same seed always gives the same people, so samples.json and tests agree.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from stdnum import numdb
from stdnum.cn import ric

SEED = 20190101

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "长孙", "宇文", "司徒", "端木")
GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳文博志国建成东海峰晨"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀英华慧巧美玲婷雪琳晶颖倩洁佳琪萍红梅莉燕瑶怡欣悦蕾璐茜薇岚菲"
UYGHUR_MALE = ("艾力", "买买提", "阿不都拉", "吐尔逊", "艾尔肯", "热合曼", "依明", "努尔", "卡德尔", "阿里木")
UYGHUR_FEMALE = ("古丽", "阿依古丽", "热依拉", "帕提古丽", "米热古丽", "阿娜尔", "努尔古丽", "再努尔")
TIBETAN = ("扎西次仁", "次仁卓玛", "格桑", "尼玛", "央金", "达瓦", "平措", "德吉", "边巴", "拉姆")
FOREIGN = ("约翰·史密斯", "玛丽亚·加西亚", "伊万·彼得罗夫", "田中·健一", "金·敏俊", "安娜·施密特")
FOREIGN_NATIONALITY = ("840", "724", "643", "392", "410", "276")  # ISO 3166 numeric


@dataclass(frozen=True)
class Person:
    id_number: str
    name: str
    sex: str  # "1" male, "2" female (GB/T 2261.1)
    birth_date: date
    ethnicity: str  # GB 3304 code, "01" Han
    kind: str = "resident"  # resident | hmt | foreigner

    @property
    def address_code(self) -> str:
        return self.id_number[:6]


@cache
def county_codes() -> tuple[tuple[str, int | None, int | None], ...]:
    """(code, first year, last year) of every county-level code in stdnum's GB/T 2260 table
    (skipping the province, prefecture and 市辖区 placeholder rows)."""
    out = []
    for _, low, high, _, children in numdb.get("cn/loc").prefixes:
        if low != high:
            continue
        for _, rest, rest_high, props, _ in children:
            county = props.get("county", "")
            if rest != rest_high or rest.endswith("00") or rest[2:] == "01" and county.endswith("市辖区"):
                continue
            entry = county.split(",")[0]
            first = last = None
            if entry.startswith("["):
                start, end = entry[1:].split("]")[0].split("-")
                first, last = (int(start) if start else None), (int(end) if end else None)
            if entry.split("]")[-1] in ("市辖区", "县"):
                continue
            out.append((low + rest, first, last))
    return tuple(out)


@cache
def _valid_in(pool: tuple, year: int) -> list:
    return [c for c in pool if (c[1] is None or c[1] <= year) and (c[2] is None or c[2] >= year)]


def make_id(address: str, born: date, sequence: int) -> str:
    body = f"{address}{born:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


def _birth(rng: random.Random) -> date:
    return date(1935, 1, 1) + timedelta(days=rng.randrange(0, (date(2006, 12, 31) - date(1935, 1, 1)).days))


def _han_name(rng: random.Random, male: bool) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.03 else rng.choice(SURNAMES)
    chars = GIVEN_MALE if male else GIVEN_FEMALE
    given = "".join(rng.choice(chars) for _ in range(rng.choice((1, 2, 2))))
    return surname + given


def _sequence(rng: random.Random, male: bool) -> int:
    seq = rng.randrange(0, 999)
    return seq | 1 if male else seq & ~1


def generate(size: int = 2000, seed: int = SEED) -> list[Person]:
    """`size` persons, unique ID numbers, deterministic for a seed."""
    rng = random.Random(seed)
    counties = county_codes()
    xinjiang = [c for c in counties if c[0].startswith("65")]
    tibet = [c for c in counties if c[0].startswith("54")]
    people: dict[str, Person] = {}
    while len(people) < size:
        male = rng.random() < 0.5
        born = _birth(rng)
        roll = rng.random()
        ethnicity, kind = "01", "resident"
        if roll < 0.04:
            pool, ethnicity = xinjiang, "05"
            name = (rng.choice(UYGHUR_MALE if male else UYGHUR_FEMALE)) + "·" + rng.choice(UYGHUR_MALE)
        elif roll < 0.06:
            pool, ethnicity = tibet, "04"
            name = rng.choice(TIBETAN)
        elif roll < 0.07:
            pool, kind = [(rng.choice(("810000", "820000", "830000")), None, None)], "hmt"
            name = _han_name(rng, male)
        elif roll < 0.08:
            pool, kind, ethnicity = [], "foreigner", "98"
            name = rng.choice(FOREIGN)
        else:
            pool = counties
            name = _han_name(rng, male)
        if kind == "foreigner":
            address = "9" + rng.choice(("11", "31", "44")) + rng.choice(FOREIGN_NATIONALITY)
        else:
            address = rng.choice(_valid_in(tuple(pool), born.year) or pool)[0]
        id_number = make_id(address, born, _sequence(rng, male))
        if id_number not in people:
            people[id_number] = Person(id_number, name, "1" if male else "2", born, ethnicity, kind)
    return list(people.values())


def unknown_id(people: list[Person], seed: int = SEED) -> str:
    """A valid ID number that belongs to nobody in the population."""
    rng = random.Random(seed + 1)
    taken = {p.id_number for p in people}
    while True:
        candidate = make_id("110105", _birth(rng), _sequence(rng, True))
        if candidate not in taken:
            return candidate
