"""The clerk pages in real headless Chromium, against a node wired to the identity mock."""
from __future__ import annotations

import asyncio
import os
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pyotp
import pytest
from playwright.async_api import Browser, Page, async_playwright

from querynode.security.accounts import AccountStore, Role, accounts_path
from querynode.security.field_crypto import cipher_for
from querynode.security.masking import mask_person

PASSWORD = "Window-Clerk-2026"
# README screenshots are refreshed only on request (QUERYNODE_SCREENSHOTS=docs/screenshots make test),
# so an ordinary test run leaves the work tree clean.
SCREENSHOTS = Path(os.environ.get("QUERYNODE_SCREENSHOTS") or tempfile.mkdtemp(prefix="querynode-shots-"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@dataclass
class Site:
    url: str
    accounts: Path
    node: object

    async def sql(self, statement: str, params: tuple = ()) -> None:
        async with aiosqlite.connect(self.accounts) as db:
            await db.execute(statement, params)
            await db.commit()


@pytest.fixture
async def site(person_departments, node_for) -> Site:
    running = await node_for(person_departments)
    path = accounts_path(running.node.settings.data_dir)
    store = AccountStore(path, cipher_for(running.node.settings))
    await store.open()
    await store.add_user("clerk01", PASSWORD, Role.CLERK)
    await store.add_user("clerk02", PASSWORD, Role.CLERK)
    await store.add_user("auditor01", PASSWORD, Role.AUDITOR)
    await store.close()
    return Site(running.http_url, path, running.node)


@pytest.fixture
async def browser() -> Browser:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def page(browser) -> Page:
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 900})
    p = await context.new_page()
    p.console_messages = []
    p.on("console", lambda msg: p.console_messages.append(msg.text))
    yield p
    await context.close()


async def login(page: Page, site: Site, username: str = "clerk01", password: str = PASSWORD, totp: str = "") -> None:
    await page.goto(site.url + "/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    if totp:
        await page.fill("#totp", totp)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()


async def lookup_identity(page: Page, site: Site, person: dict, case_number: str = "2026-110105-000123") -> None:
    await page.goto(site.url + "/lookup/identity")
    await page.fill("#case_number", case_number)
    await page.select_option("#purpose", "转移登记")
    await page.fill("#name", person["name"])
    await page.fill("#id_number", person["id_number"])
    await page.click("#lookup-form button[type=submit]")
    await page.wait_for_selector("#result, #errors")


async def badges(page: Page) -> list[str]:
    return [t.strip() for t in await page.locator(".result .badge").all_inner_texts()]


async def test_login_and_identity_match_is_masked(page, site, samples):
    await page.goto(site.url + "/login")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "login.png"))
    await login(page, site)
    assert page.url.endswith("/cases")  # the case check is the clerk's home
    for person in samples["identity"]["match"]:
        await lookup_identity(page, site, person)
        assert await badges(page) == ["一致"]
        html = await page.content()
        assert person["name"] not in html and person["id_number"] not in html  # not even in the form
        subject = await page.inner_text("#subject")
        assert person["id_number"][:6] in subject and person["id_number"][-4:] in subject and "********" in subject
        assert person["name"][0] in subject and "*" in subject
        assert await page.inner_text("#department") == "公安部"
    await page.screenshot(path=str(SCREENSHOTS / "identity-result.png"), full_page=True)
    # The lookup took the hub's one path: audited with the clerk as operator and the web caller.
    records = await site.node.audit_store.records(case_number="2026-110105-000123")
    assert {(r.operator_id, r.caller, r.operation) for r in records} == {("clerk01", "web-clerk", "VerifyIdentity")}
    assert len(records) == len(samples["identity"]["match"])


async def test_second_lookup_shows_cache_badge(page, site, samples):
    await login(page, site)
    person = samples["identity"]["match"][0]
    await lookup_identity(page, site, person)
    assert await badges(page) == ["一致"]
    await lookup_identity(page, site, person)
    assert await badges(page) == ["一致", "缓存 刚刚"]


async def test_mismatch_and_not_found_without_javascript(browser, site, samples):
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    try:
        await login(page, site)
        await lookup_identity(page, site, samples["identity"]["name_mismatch"][0])
        assert await badges(page) == ["不一致"]
        assert "姓名" in await page.inner_text(".result .card")
        await lookup_identity(page, site, samples["identity"]["not_found"][0])
        assert await badges(page) == ["未查到"]
    finally:
        await context.close()


async def test_invalid_input_and_missing_case_number_are_refused(page, site, identity_mock, samples):
    await login(page, site)
    person = samples["identity"]["match"][0]
    await lookup_identity(page, site, {"name": person["name"], "id_number": person["id_number"][:-1] + "0"})
    assert "公民身份号码" in await page.inner_text("#errors")
    # Bypass the browser's `required` check: the server still demands a case number.
    await page.goto(site.url + "/lookup/identity")
    await page.evaluate("document.getElementById('case_number').removeAttribute('required')")
    await page.fill("#name", person["name"])
    await page.fill("#id_number", person["id_number"])
    await page.click("#lookup-form button[type=submit]")
    await page.wait_for_selector("#errors")
    assert "受理编号" in await page.inner_text("#errors")
    assert person["id_number"] not in await page.content()
    assert identity_mock.stats["requests"] == 0


async def test_lockout_after_five_failures(page, site):
    for _ in range(5):
        await login(page, site, password="Wrong-Password-1")
        assert "不正确" in await page.inner_text("#login-message")
    await login(page, site)  # the right password, but locked
    assert "锁定" in await page.inner_text("#login-message")
    assert page.url.endswith("/login")


async def test_expired_password_forces_a_change(page, site):
    old = (datetime.now(UTC) - timedelta(days=91)).isoformat()
    await site.sql("UPDATE users SET password_changed_at = ? WHERE username = 'clerk01'", (old,))
    await login(page, site)
    assert page.url.endswith("/password")
    assert await page.is_visible("#expired-notice")
    await page.goto(site.url + "/lookup/identity")
    assert page.url.endswith("/password")  # nothing else until changed
    for new, error in ((PASSWORD, "最近 5 次"), ("short-1A", "12"), ("Clerk01-Secret-9", "用户名")):
        await page.fill("#current_password", PASSWORD)
        await page.fill("#new_password", new)
        await page.fill("#confirm_password", new)
        await page.evaluate("for (const i of document.querySelectorAll('input')) i.removeAttribute('minlength')")
        await page.click("main button[type=submit]")
        await page.wait_for_load_state()
        assert error in await page.inner_text(".alert.bad")
    await page.fill("#current_password", PASSWORD)
    await page.fill("#new_password", "Counter-Window-77")
    await page.fill("#confirm_password", "Counter-Window-77")
    await page.click("main button[type=submit]")
    await page.wait_for_url("**/cases")


async def test_post_without_csrf_token_is_refused(page, site, identity_mock, samples):
    person = samples["identity"]["match"][0]
    form = {"case_number": "2026-1", "purpose": "转移登记", "name": person["name"], "id_number": person["id_number"]}
    refused = await page.request.post(site.url + "/login", form={"username": "clerk01", "password": PASSWORD})
    assert refused.status == 403
    await login(page, site)
    for token in ({}, {"csrf_token": "forged"}):
        response = await page.request.post(site.url + "/lookup/identity", form={**form, **token})
        assert response.status == 403
        assert "CSRF" in await response.text()
    assert identity_mock.stats["requests"] == 0
    assert await site.node.audit_store.records(case_number="2026-1") == []


async def test_security_headers_cookies_and_no_csp_violations(page, site, samples):
    response = await page.goto(site.url + "/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    await login(page, site)
    await lookup_identity(page, site, samples["identity"]["match"][0])
    for path in ("/history", "/status"):
        await page.goto(site.url + path)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "qn_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # plain HTTP here
    assert not [m for m in page.console_messages if "Content Security Policy" in m]
    # Personal data never travels in URLs: the forms post.
    await page.goto(site.url + "/history")
    assert await page.get_attribute("form.inline", "method") == "get"  # only the case-number filter
    await page.goto(site.url + "/lookup/identity")
    assert await page.get_attribute("#lookup-form", "method") == "post"


async def test_idle_session_logs_out(page, site):
    await login(page, site)
    await page.goto(site.url + "/lookup")
    assert page.url.endswith("/lookup")
    await site.sql("UPDATE sessions SET last_seen = last_seen - 901")  # 15 minutes and a second
    await page.goto(site.url + "/lookup")
    assert "/login" in page.url
    assert "会话已超时" in await page.inner_text("#login-message")


async def test_logout_ends_the_server_session(page, site):
    await login(page, site)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "qn_session")
    await page.click(".logout button")
    await page.wait_for_url("**/login")
    await page.context.add_cookies([{**cookie}])  # replaying the old cookie does not help
    await page.goto(site.url + "/lookup")
    assert "/login" in page.url


async def test_history_shows_todays_lookups_by_case(page, site, samples):
    await login(page, site)
    await lookup_identity(page, site, samples["identity"]["match"][0], case_number="2026-A-0001")
    await lookup_identity(page, site, samples["identity"]["not_found"][0], case_number="2026-A-0001")
    await lookup_identity(page, site, samples["identity"]["match"][1], case_number="2026-B-0002")
    await page.goto(site.url + "/history")
    cases = await page.locator(".case-number").all_inner_texts()
    assert cases == ["2026-B-0002", "2026-A-0001"]
    assert await page.locator("section.case").nth(1).locator("tbody tr").count() == 2
    await page.fill("#case", "2026-A-0001")
    await page.click("form.inline button")
    assert await page.locator(".case-number").all_inner_texts() == ["2026-A-0001"]
    html = await page.content()
    assert all(p["id_number"] not in html for group in samples["identity"].values() for p in group)
    # Who was checked, masked as the lookup page heads it (the audit record keeps it, masked).
    checked = [samples["identity"]["not_found"][0], samples["identity"]["match"][0]]  # newest first
    subjects = await page.locator("section.case tbody tr td:nth-child(3)").all_inner_texts()
    assert subjects == [mask_person(p["name"], p["id_number"]) for p in checked]
    assert all(p["name"] not in html for p in checked)
    # Another clerk sees only their own; the auditor sees everybody's, and may not look up.
    await page.click(".logout button")
    await login(page, site, "clerk02")
    await page.goto(site.url + "/history")
    assert await page.is_visible("#no-history")
    await page.click(".logout button")
    await login(page, site, "auditor01")
    assert page.url.endswith("/history")
    assert await page.locator(".case-number").count() == 2
    assert (await page.goto(site.url + "/lookup/identity")).status == 403


async def test_status_page_draws_the_departments(page, site, samples):
    await login(page, site)
    await lookup_identity(page, site, samples["identity"]["match"][0])
    await lookup_identity(page, site, samples["identity"]["match"][0])
    await page.goto(site.url + "/status")
    identity = page.locator("article.dept", has_text="公安部")
    assert (await identity.locator(".badge").inner_text()).strip() == "正常"
    assert await identity.locator("svg.chart rect.bar").count() == 2
    assert "缓存命中率 50%" in await identity.inner_text()
    court = page.locator("article.dept", has_text="最高人民法院")
    assert (await court.locator(".badge").inner_text()).strip() == "未配置"
    await page.screenshot(path=str(SCREENSHOTS / "status.png"), full_page=True)


async def test_administrator_needs_a_one_time_code(page, site):
    store = AccountStore(site.accounts, cipher_for(site.node.settings))
    await store.open()
    secret = await store.add_user("admin01", PASSWORD, Role.ADMINISTRATOR)
    await store.close()
    await login(page, site, "admin01")
    assert "动态口令" in await page.inner_text("#login-message")
    await login(page, site, "admin01", totp=pyotp.TOTP(secret).now())
    assert page.url.endswith("/status")
    assert (await page.goto(site.url + "/lookup")).status == 403


@pytest.fixture(scope="session")
def axe_script(tmp_path_factory) -> Path:
    """axe-core from the npm registry, unpacked to a temporary directory."""
    import subprocess

    where = tmp_path_factory.mktemp("axe")
    done = subprocess.run(["npm", "pack", "axe-core", "--pack-destination", str(where)], cwd=where,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    tarball = next(where.glob("axe-core-*.tgz"))
    with tarfile.open(tarball) as tar:
        tar.extract("package/axe.min.js", where, filter="data")
    return where / "package" / "axe.min.js"


async def test_pages_have_no_serious_accessibility_violations(browser, site, samples, axe_script):
    # axe is injected as an inline script, which the page's CSP rightly forbids: bypass it here only.
    context = await browser.new_context(bypass_csp=True, locale="zh-CN")
    page = await context.new_page()
    try:
        checked = []
        await page.goto(site.url + "/login")
        checked.append(await _axe(page, axe_script))
        await login(page, site)
        await lookup_identity(page, site, samples["identity"]["name_mismatch"][0])
        checked.append(await _axe(page, axe_script))
        for path in ("/lookup", "/history", "/status"):
            await page.goto(site.url + path)
            checked.append(await _axe(page, axe_script))
        assert checked == [[]] * 5
    finally:
        await context.close()


async def _axe(page: Page, script: Path) -> list[str]:
    await page.add_script_tag(path=str(script))
    results = await page.evaluate("async () => (await axe.run(document)).violations"
                                  ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
                                  ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))")
    return results


async def test_print_view_shows_the_result_only(page, site, samples):
    await login(page, site)
    await lookup_identity(page, site, samples["identity"]["match"][0])
    await page.emulate_media(media="print")
    assert not await page.is_visible("#lookup-form") and not await page.is_visible(".top nav")
    assert await page.is_visible("#result .badge")
    pdf = await page.pdf(format="A4", prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF") and b"/Type /Page" in pdf


async def test_lookups_run_concurrently_for_two_clerks(browser, site, samples):
    """Two clerks at two windows: sessions do not mix."""
    contexts = [await browser.new_context() for _ in range(2)]
    try:
        pages = [await c.new_page() for c in contexts]
        await asyncio.gather(login(pages[0], site, "clerk01"), login(pages[1], site, "clerk02"))
        await asyncio.gather(lookup_identity(pages[0], site, samples["identity"]["match"][0], "2026-C-1"),
                             lookup_identity(pages[1], site, samples["identity"]["not_found"][0], "2026-C-2"))
        assert await badges(pages[0]) == ["一致"] and await badges(pages[1]) == ["未查到"]
        records = await site.node.audit_store.records()
        assert {(r.operator_id, r.case_number) for r in records} == {("clerk01", "2026-C-1"), ("clerk02", "2026-C-2")}
    finally:
        for c in contexts:
            await c.close()
