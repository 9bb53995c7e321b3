"""The clerk's case check page in headless Chromium: the record's checks and findings, masked,
and the printable record."""
from __future__ import annotations

from querynode.security.masking import mask_name
from tests.test_web_pages import browser, login, page, site  # noqa: F401  (fixtures)


async def fill_case(page, site, rows, registration_type="advance_notice", submit=True):  # noqa: F811
    await page.goto(site.url + f"/cases?type={registration_type}")  # the roles of this type, even without JavaScript
    await page.fill("#case_number", "2026-110105-000777")
    await page.select_option("#purpose", "预告登记")
    await page.select_option("#registration_type", registration_type)
    for i, (role, person) in enumerate(rows):
        await page.select_option(f"select[name=p{i}_role]", role)
        await page.fill(f"input[name=p{i}_name]", person["name"])
        await page.fill(f"input[name=p{i}_id_number]", person["id_number"])
    if submit:
        await page.click("#case-form button[type=submit]")
        await page.wait_for_selector("#case-status, #errors")


async def test_case_page_shows_the_record_masked_and_prints_it(page, site, samples):  # noqa: F811
    a, b = samples["identity"]["match"][:2]
    await login(page, site)
    await fill_case(page, site, [("seller", a), ("buyer", b)])
    assert await page.inner_text("#case-status") == "所列项目未发现异常"
    html = await page.content()
    assert a["name"] not in html and a["id_number"] not in html and b["id_number"] not in html
    assert mask_name(a["name"]) in html
    async with page.context.expect_page() as opened:  # a new tab: Back does not lose the result
        await page.click("#print-link")
    tab = await opened.value
    await tab.wait_for_load_state()
    printed = await tab.content()
    assert "不动产登记精准查询核验记录" in printed and "所列项目未发现异常" in printed
    assert a["name"] not in printed and a["id_number"] not in printed
    records = await site.node.audit_store.records(case_number="2026-110105-000777")
    assert {r.operation for r in records} == {"VerifyIdentity", "QueryDeath", "QueryCremation", "QueryMarriage", "CheckCase",
                                              "GetCaseResult"}  # printing is a read
    assert all(r.operator_id == "clerk01" and r.caller == "web-clerk" for r in records)


async def test_case_page_findings_and_plan_errors(page, site, samples):  # noqa: F811
    wrong, a = samples["identity"]["name_mismatch"][0], samples["identity"]["match"][0]
    await login(page, site)
    await fill_case(page, site, [("seller", wrong), ("buyer", a)])
    assert await page.inner_text("#case-status") == "有阻断事项"  # a name mismatch blocks
    assert "姓名与身份证号码不一致" in await page.inner_text("#findings")
    await fill_case(page, site, [("seller", a)], registration_type="advance_notice", submit=False)
    await page.evaluate("() => { const s = document.querySelector('select[name=p0_role]');"  # past the role list
                        " s.add(new Option('x', 'decedent')); s.value = 'decedent'; }")
    await page.click("#case-form button[type=submit]")
    await page.wait_for_selector("#errors")
    errors = await page.inner_text("#errors")
    assert "第 1 行当事人的角色" in errors and "parties" not in errors
    assert a["id_number"] not in await page.content()


async def test_case_page_shows_each_check_as_it_completes(page, site, identity_mock, samples):  # noqa: F811
    """With JavaScript the checks arrive one by one: the death and marriage checks first, the
    slow identity check later, the conclusion last."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{identity_mock.url}/_admin/faults", json={"latency": "900"}) as resp:
            assert resp.status == 200
    a, b = samples["identity"]["match"][:2]
    await login(page, site)
    await page.goto(site.url + "/cases")
    await page.fill("#case_number", "2026-110105-000888")
    await page.select_option("#purpose", "转移登记")
    await page.select_option("#registration_type", "transfer")
    for i, (role, person) in enumerate([("seller", a), ("buyer", b)]):
        await page.select_option(f"select[name=p{i}_role]", role)
        await page.fill(f"input[name=p{i}_name]", person["name"])
        await page.fill(f"input[name=p{i}_id_number]", person["id_number"])
    await page.click("#case-form button[type=submit]")
    await page.wait_for_selector("#progress-checks li")
    assert await page.locator("#case-status").count() == 0  # identity still running at the mock
    first = await page.inner_text("#progress-checks li")
    assert "身份核查" not in first
    await page.wait_for_selector("#case-status", timeout=10_000)
    assert await page.inner_text("#case-status") == "所列项目未发现异常"
    # eight checks (death with its second source, cremation), and the death of the married
    # buyer's spouse the marriage record named, from both sources; the progress list became the
    # result table
    assert await page.locator("#checks tbody tr").count() == 10
    html = await page.content()
    assert a["name"] not in html and a["id_number"] not in html


async def test_case_page_works_without_javascript(browser, site, samples):  # noqa: F811
    context = await browser.new_context(java_script_enabled=False, locale="zh-CN")
    p = await context.new_page()
    try:
        a, b = samples["identity"]["match"][:2]
        await login(p, site)
        await fill_case(p, site, [("seller", a), ("buyer", b)])
        assert await p.locator("#result #case-status").inner_text() == "所列项目未发现异常"
        assert await p.locator("#progress").count() == 0
    finally:
        await context.close()


async def test_case_page_offers_fresh_answers_for_registration(page, site, identity_mock, samples):  # noqa: F811
    """登簿前复核: the clerk can ask every department again instead of taking cached answers."""
    a, b = samples["identity"]["match"][:2]
    await login(page, site)
    await fill_case(page, site, [("seller", a), ("buyer", b)])
    asked = identity_mock.stats["requests"]
    await fill_case(page, site, [("seller", a), ("buyer", b)])
    assert identity_mock.stats["requests"] == asked  # the same case again: answered from the cache
    await fill_case(page, site, [("seller", a), ("buyer", b)], submit=False)
    await page.check("#fresh")
    await page.click("#case-form button[type=submit]")
    await page.wait_for_selector("#case-status, #errors")
    assert await page.inner_text("#case-status") == "所列项目未发现异常"
    assert identity_mock.stats["requests"] > asked  # fresh: the department was asked again
    records = await site.node.audit_store.records(case_number="2026-110105-000777")
    case_records = [r for r in records if r.operation == "CheckCase"]
    assert len(case_records) == 3
