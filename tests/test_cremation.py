"""QueryCremation (民政部 殡葬 火化信息, zw_civil_crem) end to end over real sockets; golden request
and replies from INTERFACES.md §12.4 with made-up values; broken replies are SOURCE_UNAVAILABLE."""
from __future__ import annotations

import json

import pytest
from aiohttp import web

from connectors.base.ministry import lower_keys
from connectors.cremation.reply import parse
from connectors.cremation.types import CremationQuery, CremationRecord
from mocks.cremation import CremationDepartment
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx


def reply(data) -> bytes:
    return json.dumps({"head": {"status": "0200", "msg": "查询成功"}, "data": data}, ensure_ascii=False).encode()


async def test_a_cremated_person_is_found(node_for, start_mock, samples):
    register = await start_mock(CremationDepartment)
    node = await node_for({"cremation": register.url})
    sample = samples["cremation"]["cremated"][0]
    got = await node.stub.QueryCremation(pb.QueryCremationRequest(
        context=ctx(), id_number=sample["id_number"], name=sample["name"]))
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND and got.provenance.department == pb.DEPARTMENT_CREMATION
    [record] = got.records
    assert record.died_on == sample["died_on"] and record.cremated_on > record.died_on
    assert register.requests == [{"id_card": sample["id_number"], "name": sample["name"]}]


async def test_nobody_cremated_is_not_found(node_for, start_mock, world):
    register = await start_mock(CremationDepartment)
    node = await node_for({"cremation": register.url})
    alive = next(p for p in world.persons if p.id_number not in world.deaths and p.kind == "resident")
    got = await node.stub.QueryCremation(pb.QueryCremationRequest(context=ctx(), id_number=alive.id_number,
                                                                  name=alive.name))
    assert got.verdict == pb.LOOKUP_VERDICT_NOT_FOUND and not got.records


def person(world):
    return next(iter(world.deaths.values())).person


@pytest.mark.parametrize("data", [
    [{"id_card": "{id}", "name": "{name}", "sex": "1", "address": "某市某路", "death_time": "2023-12-09",
      "cremation_time": "2023-12-12", "RN": "1"}],  # Jiangsu mock: lower case, yyyy-MM-dd
    {"cxjg": [{"ID_CARD": "{id}", "NAME": "{name}", "SEX": 1, "DEATH_TIME": "2023-12-09 08:10:00",
               "CREMATION_TIME": "2023-12-12 09:30:00", "RN": 1}]},  # Hefei sample: HH:mm:ss, numbers
    {"rows": [{"ID_CARD": "{id}", "NAME": "{name}", "SEX": "2", "ADDRESS": "", "DEATH_TIME": "2023-12-09",
               "CREMATION_TIME": "2023-12-12"}]},  # national platform: upper case in rows
])
def test_documented_replies_are_read(world, data):
    p = person(world)
    text = json.dumps(data, ensure_ascii=False).replace("{id}", p.id_number).replace("{name}", p.name)
    got = parse(lower_keys(json.loads(text)), CremationQuery(p.id_number, p.name))
    assert got.records == (CremationRecord("2023-12-09", "2023-12-12"),)


def broken(world):
    p = person(world)
    ok = {"id_card": p.id_number, "name": p.name, "death_time": "2023-12-09", "cremation_time": "2023-12-12"}
    return [
        ("another person", reply([ok | {"id_card": "110105194108030028"}]), "another person"),
        ("cremated before death", reply([ok | {"cremation_time": "2023-12-01"}]), "cremation before death"),
        ("bad time", reply([ok | {"death_time": "09/12/2023"}]), "yyyy-MM-dd"),
        ("no list", reply({"count": 1}), "no list"),
        ("no death time", reply([{k: v for k, v in ok.items() if k != "death_time"}]), "required text"),
        ("HTML", b"<html>502</html>", "not UTF-8 JSON"),
        ("status 0301", json.dumps({"head": {"status": "0301"}}).encode(), "0301"),
    ]


@pytest.mark.parametrize("index", range(7))
async def test_broken_reply_is_source_unavailable(node_for, fake_upstream, world, index):
    label, body, reason = broken(world)[index]
    p = person(world)

    async def handle(request):
        return web.Response(body=body, content_type="application/json")
    node = await node_for({"cremation": await fake_upstream(handle)})
    got = await node.stub.QueryCremation(pb.QueryCremationRequest(context=ctx(), id_number=p.id_number, name=p.name))
    assert got.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not got.records, label
    assert reason in got.provenance.unavailable_reason and p.name not in got.provenance.unavailable_reason
