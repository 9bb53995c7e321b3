"""Abuse detection ("browsing the neighbours"): an operator looking up many persons under one
case number gets flagged audit records after the threshold, still answered; normal case work
(a few persons per case, many cases) does not; the metric counts, `audit search --flagged`
finds the records, the chain still verifies; memory stays bounded. Time is a fake clock."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys

import pytest
from prometheus_client import REGISTRY

from querynode.config import AbuseSettings
from querynode.domain.model import (
    IdentityQuery,
    MarriageQuery,
    OrganizationQuery,
    RequestContext,
)
from querynode.security.abuse import FLAG, PERSON_FIELDS, REASON, AbuseDetector
from querynode.security.blind_index import BlindIndex, subject_of
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, make_settings, start_node


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(operator: str = "clerk-007", case: str = "2026-110105-000123", caller: str = "registry-a") -> RequestContext:
    return RequestContext(case_number=case, operator_id=operator, purpose="转移登记", caller=caller,
                          request_id=secrets.token_hex(8))


def flagged_count() -> float:
    return REGISTRY.get_sample_value("querynode_abuse_flags_total", {"reason": REASON}) or 0.0


INDEX = BlindIndex(os.urandom(32))


def digests_of(query) -> list[str]:
    """The person digests the hub hands the detector (computed once per lookup)."""
    return subject_of(INDEX, "lookup", query).of(PERSON_FIELDS)


@pytest.fixture
def detector():
    return AbuseDetector(window_seconds=3600, distinct_subjects=5, subjects_per_case=3,
                         clock=Clock())


def lookups(detector, persons, **kw) -> list[str]:
    return [detector.observe(request(**kw), digests_of(IdentityQuery(p.id_number, p.name))) for p in persons]


def test_browsing_under_one_case_is_flagged_from_the_threshold_on(detector, people, caplog):
    before = flagged_count()
    with caplog.at_level(logging.WARNING, logger="querynode.abuse"):
        flags = lookups(detector, people[:10], operator="clerk-browse")
    # Persons 1-3 fit a case; the 4th makes the case number a cover (4 persons outside the
    # operator's cases); from the 5th on the operator is over distinct_subjects.
    assert flags == [""] * 4 + [FLAG] * 6
    assert flagged_count() - before == 6
    # One warning when the threshold is crossed, naming the operator, never a person or case.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "clerk-browse" in warnings[0] and "registry-a" in warnings[0]
    for p in people[:10]:
        assert p.id_number not in warnings[0] and p.name not in warnings[0]
    assert "2026-110105-000123" not in warnings[0]
    # The same persons again stay flagged (the operator is still over the threshold).
    assert lookups(detector, people[:2], operator="clerk-browse") == [FLAG, FLAG]


def test_normal_case_work_is_not_flagged(detector, people):
    """Forty cases with three parties each, some looked up twice: 120 persons, no flag."""
    flags = []
    for n in range(40):
        parties = people[3 * n:3 * n + 3]
        flags += lookups(detector, parties, operator="clerk-busy", case=f"2026-110105-{n:06d}")
        flags += lookups(detector, parties[:1], operator="clerk-busy", case=f"2026-110105-{n:06d}")
    assert set(flags) == {""} and len(flags) == 160


def test_operators_and_callers_are_counted_apart(detector, people):
    assert set(lookups(detector, people[:4], operator="clerk-a")) == {""}
    assert set(lookups(detector, people[4:8], operator="clerk-b")) == {""}
    # The same operator id at another caller system is another person's account.
    assert set(lookups(detector, people[8:12], operator="clerk-a", caller="window-app")) == {""}
    assert lookups(detector, people[12:13], operator="clerk-a") == [FLAG]


def test_only_person_lookups_count_and_a_spouse_is_a_person(detector, people):
    org = [detector.observe(request(), digests_of(OrganizationQuery(credit_code="91110000100000000X"))) for _ in range(20)]
    assert set(org) == {""}
    a, b, c = people[0], people[1], people[2]
    detector.observe(request(), digests_of(MarriageQuery(a.id_number, a.name, b.id_number, b.name)))
    detector.observe(request(), digests_of(IdentityQuery(c.id_number, c.name)))
    assert detector.observe(request(), digests_of(IdentityQuery(people[3].id_number, people[3].name))) == ""  # 4 persons
    assert detector.observe(request(), digests_of(IdentityQuery(people[4].id_number, people[4].name))) == FLAG  # 5


def test_lookups_leave_the_window(detector, people):
    clock = detector._clock
    assert set(lookups(detector, people[:4])) == {""}
    clock.now += 3601  # an hour later the first four are forgotten
    assert set(lookups(detector, people[4:8])) == {""}
    assert lookups(detector, people[8:9]) == [FLAG]
    clock.now += 3601
    assert lookups(detector, people[9:10]) == [""]  # back under the threshold


def test_memory_is_bounded(people):
    clock = Clock()
    detector = AbuseDetector(distinct_subjects=5, subjects_per_case=3,
                             max_operators=10, max_lookups=50, clock=clock)
    for n in range(50):
        lookups(detector, people[:1], operator=f"clerk-{n}")
    assert detector.tracked_operators == 10
    clock.now += 3601  # idle for a whole window: forgotten at the next lookup
    lookups(detector, people[:1], operator="clerk-new")
    assert detector.tracked_operators == 1
    lookups(detector, people[:200], operator="clerk-new", case="2026-X")
    operator = next(iter(detector._operators.values()))
    assert len(operator.lookups) == 50 and sum(map(len, operator.cases.values())) == 50


def test_detection_can_be_switched_off():
    assert AbuseDetector.from_settings(AbuseSettings(enabled=False)) is None
    on = AbuseDetector.from_settings(AbuseSettings(window_minutes=30, distinct_subjects=12))
    assert (on.window_seconds, on.distinct_subjects, on.subjects_per_case) == (1800, 12, 8)


async def test_flagged_lookups_are_answered_recorded_counted_and_searchable(tmp_path, identity_mock, dept_secret,
                                                                           people):
    settings = make_settings(tmp_path, {"identity": identity_mock.url}, dept_secret,
                             abuse=AbuseSettings(distinct_subjects=4, subjects_per_case=3))
    running, stop = await start_node(settings)
    before = flagged_count()
    browsed = people[100:107]
    try:
        for person in browsed:  # seven neighbours under one case number
            reply = await running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
                context=ctx(operator_id="clerk-browse", case_number="2026-110105-000777"),
                id_number=person.id_number, name=person.name))
            assert reply.provenance.audit_id  # answered: a flag, not a block
        for n in range(6):  # normal work: two parties in each of six cases
            for person in people[110 + 2 * n:112 + 2 * n]:
                await running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
                    context=ctx(operator_id="clerk-normal", case_number=f"2026-110105-{n:06d}"),
                    id_number=person.id_number, name=person.name))
        records = await running.node.audit_store.records()
        assert await running.node.audit_store.verify_chain() is None
    finally:
        await stop()
    assert flagged_count() - before == 4
    flags = {(r.operator_id, r.flags) for r in records}
    assert [r.flags for r in records if r.operator_id == "clerk-browse"] == [""] * 3 + [FLAG] * 4
    assert ("clerk-normal", FLAG) not in flags and len(records) == 19

    env = {"QUERYNODE_DATA_DIR": str(tmp_path), "QUERYNODE_NODE_KEY": settings.node_key.get_secret_value()}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", "audit", "search", "--flagged", env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await proc.communicate())[0].decode()
    assert proc.returncode == 0, out
    assert "4 record(s)" in out and out.count("clerk-browse") == 4 and "clerk-normal" not in out
    assert out.count(FLAG) == 4
    for person in browsed:
        assert person.id_number not in out and person.name not in out


# ------------------------------------------------- invented ids (issue 18, M2)


def test_invented_case_numbers_are_flagged(people):
    """The red team's 90 lookups, each under a freshly invented case number: 0 flagged before."""
    detector = AbuseDetector(cases_per_operator=60)
    flags = []
    for n in range(90):
        flags += lookups(detector, people[n:n + 1], operator="clerk-x", case=f"2026-INVENTED-{n:04d}")
    assert flags[:60] == [""] * 60
    assert all("abuse:case_churn" in f for f in flags[60:]) and len(flags) == 90


def test_rotating_operator_ids_are_flagged(people):
    detector = AbuseDetector(operators_per_caller=20)
    flags = []
    for n in range(40):
        flags += lookups(detector, people[n:n + 1], operator=f"op-{n}", case=f"2026-{n:04d}")
    assert flags[:20] == [""] * 20 and all("abuse:operator_churn" in f for f in flags[20:])


def test_one_person_under_many_case_numbers_is_flagged(people):
    detector = AbuseDetector(cases_per_subject=3)
    flags = []
    for n in range(6):
        flags += lookups(detector, people[:1], operator="clerk-y", case=f"2026-{n:04d}")
    assert flags[:3] == [""] * 3 and all("abuse:subject_many_cases" in f for f in flags[3:])
