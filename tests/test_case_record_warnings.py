"""The case record says what the input normalisation changed (#17 item 6): a clerk who typed a
15-digit ID number or "张 三" sees, in the signed record, that the node asked with the 18-digit
number and 张三, and for which party."""
from __future__ import annotations

import json

from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx
from tests.test_case_check_departments import party, unmarried


async def test_the_record_lists_what_normalisation_changed_per_party(full_node, world):
    seller, buyer = [p for p in unmarried(world) if p.id_number[6:8] == "19" and len(p.name) >= 2
                     and "·" not in p.name][:2]
    legacy = seller.id_number[:6] + seller.id_number[8:17]  # the 15-digit form of the same number
    reply = await full_node.stub.CheckCase(pb.CheckCaseRequest(context=ctx(), registration_type="transfer", parties=[
        pb.CaseParty(role="seller", name=seller.name, id_number=legacy),
        pb.CaseParty(role="buyer", name=buyer.name[0] + " " + buyer.name[1:], id_number=buyer.id_number)]),
        timeout=15)
    record = json.loads(reply.record_json)
    assert record["input_warnings"] == ["当事人1 公民身份号码：已将 15 位旧号码转换为 18 位",
                                        "当事人2 姓名：已去除汉字之间的空格"]
    assert reply.status == pb.CASE_STATUS_CLEAR, [f.message for f in reply.findings]
    assert seller.id_number not in reply.record_json.decode() and legacy not in reply.record_json.decode()


async def test_a_record_with_nothing_changed_says_so(full_node, world):
    seller, buyer = unmarried(world)[:2]
    reply = await full_node.stub.CheckCase(pb.CheckCaseRequest(context=ctx(), registration_type="transfer", parties=[
        party(seller, "seller"), party(buyer, "buyer")]), timeout=15)
    assert json.loads(reply.record_json)["input_warnings"] == []
