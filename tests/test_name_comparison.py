"""Names are compared through one function (querynode.domain.names.same_name) wherever the node
sets a typed name against a department's: case findings and the connectors' "is this reply about
the person asked" checks (issue 17: Latin names compared case-sensitively, dot look-alikes)."""
from __future__ import annotations

import pytest

from querynode.domain import model as m
from querynode.v1 import querynode_pb2 as pb
from tests.test_case_check_departments import alive, check  # noqa: F401 - helpers


def han_spaced(name: str) -> str:
    """The name as a clerk might type it: a space after the first character (张 三)."""
    return name[0] + " " + name[1:]


async def test_legal_representative_and_company_typed_with_spaces_are_who_the_register_names(full_node, world):
    """Before, the case check set the typed name against the register's as it was: "张 三"
    gave LEGAL_REPRESENTATIVE_DIFFERS and a spaced company name ORG_NAME_MISMATCH."""
    active = next(o for o in world.organizations if o.status == "存续" and alive(world, o.legal_representative)
                  and "·" not in o.legal_representative.name)
    rep = active.legal_representative
    reply, codes = await check(full_node, "first", [
        pb.CaseParty(role="holder", credit_code=active.credit_code, organization_name=han_spaced(active.name)),
        pb.CaseParty(role="legal_representative", name=han_spaced(rep.name), id_number=rep.id_number)])
    assert not codes & {"LEGAL_REPRESENTATIVE_DIFFERS", "ORG_NAME_MISMATCH", "NAME_MISMATCH"}, codes
    other = next(p for p in world.persons if alive(world, p) and p.name != rep.name and "·" not in p.name)
    reply, codes = await check(full_node, "first", [
        pb.CaseParty(role="holder", credit_code=active.credit_code, organization_name=active.name + "分公司"),
        pb.CaseParty(role="legal_representative", name=other.name, id_number=other.id_number)])
    assert {"LEGAL_REPRESENTATIVE_DIFFERS", "ORG_NAME_MISMATCH"} <= codes


@pytest.mark.parametrize("replied,asked", [("SMITH", "Smith"), ("艾力．买买提", "艾力·买买提"), ("o'brien", "O'BRIEN"),
                                           ("张 三", "张三")])
def test_death_reply_spelling_the_name_differently_is_about_the_person_asked(replied, asked):
    from connectors.base import BadUpstream
    from connectors.death.reply import parse

    number = "11010519491231002X"

    def reply(name: str) -> str:
        return ('<MDEML templateVersion="1.0"><resultinfo><success>0</success></resultinfo><body><data>'
                f"<GMSFHM>{number}</GMSFHM><XM>{name}</XM><XBDM>2</XBDM><MZDM>01</MZDM><SWRQ>2025-01-02</SWRQ>"
                "</data></body></MDEML>")

    result = parse(reply(replied), m.DeathQuery(number, asked))
    assert result.record is not None and result.record.died_on == "2025-01-02"
    with pytest.raises(BadUpstream):
        parse(reply("李四"), m.DeathQuery(number, asked))
