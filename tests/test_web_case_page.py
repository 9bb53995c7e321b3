"""The clerk's case check page in headless Chromium: the record's checks and findings, masked,
and the printable record."""
from __future__ import annotations

from querynode.security.masking import mask_name
from tests.test_web_pages import browser, login, page, site  # noqa: F401  (fixtures)


async def fill_case(page, site, rows, registration_type="advance_notice"):  # noqa: F811
    await page.goto(site.url + "/cases")
    await page.fill("#case_number", "2026-110105-000777")
    await page.fill("#purpose", "预告登记")
    await page.select_option("#registration_type", registration_type)
    for i, (role, person) in enumerate(rows):
        await page.select_option(f"select[name=p{i}_role]", role)
        await page.fill(f"input[name=p{i}_name]", person["name"])
        await page.fill(f"input[name=p{i}_id_number]", person["id_number"])
    await page.click("#case-form button[type=submit]")
    await page.wait_for_selector("#result, #errors")


async def test_case_page_shows_the_record_masked_and_prints_it(page, site, samples):  # noqa: F811
    a, b = samples["identity"]["match"][:2]
    await login(page, site)
    await fill_case(page, site, [("seller", a), ("buyer", b)])
    assert await page.inner_text("#case-status") == "核验通过"
    html = await page.content()
    assert a["name"] not in html and a["id_number"] not in html and b["id_number"] not in html
    assert mask_name(a["name"]) in html
    await page.click("#print-link")
    await page.wait_for_load_state()
    printed = await page.content()
    assert "不动产登记精准查询核验记录" in printed and "核验通过" in printed
    assert a["name"] not in printed and a["id_number"] not in printed
    records = await site.node.audit_store.records(case_number="2026-110105-000777")
    assert {r.operation for r in records} == {"VerifyIdentity", "CheckCase"}
    assert all(r.operator_id == "clerk01" and r.caller == "web-clerk" for r in records)


async def test_case_page_findings_and_plan_errors(page, site, samples):  # noqa: F811
    wrong, a = samples["identity"]["name_mismatch"][0], samples["identity"]["match"][0]
    await login(page, site)
    await fill_case(page, site, [("seller", wrong), ("buyer", a)])
    assert await page.inner_text("#case-status") == "需关注"
    assert "姓名与身份证号码不一致" in await page.inner_text("#findings")
    await fill_case(page, site, [("decedent", a)], registration_type="advance_notice")
    assert "parties[0].role" in await page.inner_text("#errors")
    assert a["id_number"] not in await page.content()
