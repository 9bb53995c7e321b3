"""The words and colours of the clerk pages (pages/present.py), without a browser: validation
errors in Chinese whatever the validator says, verdict meanings, cache wording, masking in
free text, input normalising; and the operator's display name for printed records."""
from __future__ import annotations

import re

import aiosqlite

from querynode.api.http.pages import present
from querynode.domain import errors as e
from querynode.security.accounts import AccountStore, Role
from querynode.security.field_crypto import FieldCipher

ENGLISH = re.compile(r"[A-Za-z]{3,}")


def test_validation_errors_never_show_raw_english():
    cases = [
        e.FieldViolation("id_number", "must be 17 digits followed by a digit or X"),
        e.FieldViolation("id_number", "check character does not match (ISO 7064 MOD 11-2)"),
        e.FieldViolation("parties[0].role", "registration type transfer has no such role; roles: seller, buyer"),
        e.FieldViolation("parties[3]", "role seller must be a natural person"),
        e.FieldViolation("case_number|party_name", "one of them is required"),
        e.FieldViolation("context.case_number", "is required"),
        e.FieldViolation("something_new", "whatever the validator says"),
    ]
    texts = [present.violation_text(v) for v in cases]
    assert not [t for t in texts if ENGLISH.search(t)], texts
    assert texts[0].startswith("身份证号：") and "18 位" in texts[0]
    assert texts[2] == "当事人1 角色：该登记类型没有这个角色，请在列表中选择"
    assert texts[3].startswith("当事人4：")
    assert texts[5].startswith("受理编号：")


def test_validation_errors_use_the_validators_chinese_and_the_form_row():
    assert present.violation_text(e.violation("id_number", "ID_CHECK_CHARACTER")) == "身份证号：校验位不符（GB 11643）"
    # parties[1] is the second party the form sent, which was on row 3 (row 2 was left empty).
    text = present.violation_text(e.violation("parties[1].id_number", "ID_CHARACTERS"), party_rows=[1, 3])
    assert text == "第 3 行当事人的身份证号：应为 17 位数字加 1 位数字或 X"


def test_cache_wording_is_one_and_the_same():
    assert [present.cache_text(s) for s in (0, 59.9, 60, 3599)] == ["缓存 刚刚", "缓存 刚刚", "缓存 1 分钟前", "缓存 59 分钟前"]


def test_names_in_judgment_text_are_masked_but_organisations_are_not():
    text = ("一、被继承人谢佳名下位于某处的房屋由原告谢华菲继承所有；申请执行人中国建设银行股份有限公司；"
            "原告秦博强与被告北京鑫汇通小额贷款有限公司")
    masked = present.mask_names_in_text(text)
    assert "谢佳" not in masked and "谢华菲" not in masked and "秦博强" not in masked and "被继承人谢*名下" in masked
    assert "中国建设银行股份有限公司" in masked


def test_identifiers_are_normalised_like_the_page_does():
    full_width = "１３２９２９１９７３１２０７０７２ｘ"
    assert present.normalise_code("\u3000" + full_width + " ") == "13292919731207072X"
    fields = present.normalise_form({"p2_id_number": " 11010519491231002x", "p2_name": " 张三\u3000", "case_number": " A-1 "})
    assert fields == {"p2_id_number": "11010519491231002X", "p2_name": "张三", "case_number": "A-1"}


def test_record_view_orders_checks_and_tells_parties_apart():
    record = {
        "record_id": "a" * 32, "created_at": "2026-01-02T03:04:05+00:00", "status": "BLOCKED",
        "case": {"case_number": "X-1", "registration_label": "继承", "purpose": "继承（受遗赠）登记", "operator_id": "c1"},
        "parties": [{"index": 0, "role": "decedent", "role_label": "被继承人", "name": "谢*"},
                    {"index": 1, "role": "heir", "role_label": "继承人", "name": "谢**"},
                    {"index": 2, "role": "heir", "role_label": "继承人", "name": "谢**"}],
        "checks": [
            {"check_id": "identity:heir:2", "kind": "identity", "party_index": 2, "status": "ATTENTION", "summary": "s"},
            {"check_id": "death:heir:1", "kind": "death", "party_index": 1, "status": "UNAVAILABLE",
             "summary": "来源不可用（death: HTTP 503）", "provenance": {"department": "death", "source_time": None}},
            {"check_id": "identity:heir:1", "kind": "identity", "party_index": 1, "status": "OK", "summary": "s",
             "provenance": {"department": "identity", "source_time": "2026-01-02T03:04:00+00:00",
                            "from_cache": True, "cache_age_seconds": 30}},
            {"check_id": "death:decedent:0", "kind": "death", "party_index": 0, "status": "STALE", "summary": "s"},
        ],
        "findings": [{"code": "N", "severity": "INFO", "message": "提示", "check_ids": []},
                     {"code": "B", "severity": "BLOCKING", "message": "阻断", "check_ids": ["identity:heir:2"]}],
    }
    view = present.record_view(record)
    assert [r.item for r in view.rows] == ["死亡核查 · 被继承人 谢*", "身份核查 · 继承人 1 谢**",
                                          "死亡核查 · 继承人 1 谢**", "身份核查 · 继承人 2 谢**"]
    assert [(r.verdict, r.tone) for r in view.rows] == [("数据可能过期", "stale"), ("一致", "good"),
                                                        ("来源不可用", "unavailable"), ("不一致", "blocked")]
    assert view.rows[1].flag == "缓存 刚刚" and view.rows[1].source_time == "2026-01-02 11:04"
    assert "HTTP" not in view.rows[2].summary and "重新核验" in view.rows[2].summary
    assert (view.status, view.tone) == ("有阻断事项", "blocked")
    assert [f.tone for f in view.findings] == ["blocked", "info"]  # blockers first
    assert view.created_at == "2026年01月02日 11:04:05"


async def test_display_name_is_sealed_and_older_files_gain_the_column(tmp_path):
    import os

    cipher = FieldCipher({"k1": os.urandom(32)}, "k1")
    path = tmp_path / "accounts.sqlite"
    store = AccountStore(path, cipher)
    await store.open()
    await store.add_user("clerk09", "Window-Clerk-2026", Role.CLERK, display_name="王晓梅")
    assert await store.display_name("clerk09") == "王晓梅"
    await store.close()
    async with aiosqlite.connect(path) as db:
        async with db.execute("SELECT display_name FROM users") as cur:
            stored = (await cur.fetchone())[0]
        assert "王晓梅".encode() not in stored  # sealed, like the TOTP secret
        await db.execute("ALTER TABLE users DROP COLUMN display_name")  # a file from before names
        await db.commit()
    await store.open()
    assert await store.display_name("clerk09") == ""
    await store.close()


def test_a_stale_answer_never_shows_a_clean_verdict():
    record = {
        "record_id": "b" * 32, "created_at": "2026-01-02T03:04:05+00:00", "status": "CLEAR",
        "case": {}, "parties": [{"index": 0, "role": "seller", "role_label": "转让方", "name": "龙**"}],
        "checks": [{"check_id": "death:seller:0", "kind": "death", "party_index": 0, "status": "OK", "summary": "s",
                    "provenance": {"department": "death", "from_cache": True, "stale": True, "cache_age_seconds": 1800}}],
        "findings": [],
    }
    view = present.record_view(record)
    assert (view.rows[0].verdict, view.rows[0].tone, view.rows[0].flag_tone) == ("数据可能过期", "stale", "stale")
    assert (view.status, view.tone) == ("数据可能过期", "stale")
    assert view.by_hand == ["死亡核查 · 转让方 龙**：数据来自过期缓存，请重新核验"]


# ------------------------------------------------------------------ lookup badges come from the declarations

def _answer(department: str, result: object):
    from querynode.domain import model as m
    return m.Answer(result, m.Provenance(department, None, "a" * 32, "r1"))


def test_every_department_badges_its_results_by_meaning_not_by_found():
    from connectors.cremation.types import CremationQuery, CremationRecord, CremationResult
    from connectors.organ.types import OrganQuery, OrganResult
    from querynode.domain import model as m

    who = CremationQuery("110105199003071234", "张三")
    cremated = CremationResult((CremationRecord("2024-01-02", "2024-01-05"),))
    assert present.lookup_badge(who, _answer("cremation", cremated)) == present.Badge("有火化记录", "blocked")
    assert present.lookup_badge(who, _answer("cremation", CremationResult(()))) == present.Badge("无火化记录", "good")
    revoked = m.Organization("12100000400000001X", "某研究所", "张三", "事业单位", "北京", "", "", "", m.OrganizationStatus.REVOKED,
                             "撤销")
    found = present.lookup_badge(OrganQuery(name="某研究所"), _answer("organ", OrganResult((revoked,))))
    assert found == present.Badge("已吊销", "blocked")


def test_a_department_that_declares_no_badge_gets_one_from_its_verdict():
    from querynode.core.operations import registry
    from tests.test_registry import QUERY_THROWAWAY, TAX, TaxQuery, TaxRecord, TaxResult

    query = TaxQuery("110105199003071234", "张三")
    registry().register(TAX, (QUERY_THROWAWAY,))
    try:
        found = present.lookup_badge(query, _answer("throwaway", TaxResult((TaxRecord("张三", "1.00"),))))
        missing = present.lookup_badge(query, _answer("throwaway", TaxResult(())))
    finally:
        registry().unregister(TAX.name)
    assert found == present.Badge("已查到", "info")  # found is not green: the page cannot know what it means
    assert missing == present.Badge("未查到", "attention")


def test_a_pending_answer_says_what_to_do_next_whichever_department_gives_it():
    from querynode.domain import model as m

    pending = _answer("court", m.JudgmentResult((), pending=True))
    assert present.lookup_badge(m.JudgmentQuery(case_number="（2023）京0105民初1234号"), pending).tone == "attention"
    assert any("尚未返回查询结果" in w for w in present.lookup_warnings(pending))


def test_the_page_and_the_print_say_what_normalising_the_input_changed():
    """The signed record lists what the node changed in the clerk's input (15-digit ID number to 18,
    a space inside a name); the case page and the printed record show it, so the paper filed says
    what was actually asked."""
    from querynode.api.http.pages.render import render, render_fragment

    warnings = ["当事人1 公民身份号码：已将 15 位旧号码转换为 18 位", "当事人2 姓名：已去除汉字之间的空格"]
    record = {"record_id": "b" * 32, "created_at": "2026-01-02T03:04:05+00:00", "status": "CLEAR",
              "case": {"case_number": "X-2", "registration_label": "转移登记", "operator_id": "c1"},
              "parties": [], "checks": [], "findings": [], "input_warnings": warnings}
    view = present.record_view(record)
    assert view.input_warnings == warnings
    page = render_fragment("_case_result.html", view=view)
    printed = render(None, "record_print.html", view=view, operator="王芳", digest="d" * 64, signature="s",
                     key_id="k", qr="").text
    for html in (page, printed):
        assert "录入已自动规范" in html and all(w in html for w in warnings)
    quiet = present.record_view(record | {"input_warnings": []})
    assert "录入已自动规范" not in render_fragment("_case_result.html", view=quiet)
