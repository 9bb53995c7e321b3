"""What a counter clerk sees, in real headless Chromium against a node wired to all seven mock
departments: verdict colours (axe colour contrast), the printed record on A4, English leaks,
keyboard-only work, time-outs, history and the status chart."""
from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from mocks.court_cases import generate

from querynode.security.accounts import AccountStore, Role, accounts_path
from querynode.security.field_crypto import cipher_for
from querynode.core.operations import registry
from querynode.security.masking import mask_name
from tests.test_web_pages import PASSWORD, SCREENSHOTS, Site, axe_script, browser, login  # noqa: F401

WIDE = {"width": 1366, "height": 768}
TRANSFER_CASE = "2026-110105-001001"


@pytest.fixture
async def full_site(departments, node_for) -> Site:  # noqa: F811
    running = await node_for({d: mock.url for d, mock in departments.items()})
    path = accounts_path(running.node.settings.data_dir)
    store = AccountStore(path, cipher_for(running.node.settings))
    await store.open()
    await store.add_user("clerk01", PASSWORD, Role.CLERK, display_name="王晓梅")
    await store.add_user("auditor01", PASSWORD, Role.AUDITOR)
    await store.close()
    return Site(running.http_url, path, running.node)


@pytest.fixture
async def clerk(browser, full_site):  # noqa: F811
    context = await browser.new_context(locale="zh-CN", viewport=WIDE)
    p = await context.new_page()
    p.console_messages = []
    p.on("console", lambda msg: p.console_messages.append(msg.text))
    await login(p, full_site)
    yield p
    await context.close()


@pytest.fixture
async def axe_clerk(browser, full_site, axe_script):  # noqa: F811
    """A clerk whose pages also get axe (injected inline, so the CSP is bypassed here only)."""
    context = await browser.new_context(locale="zh-CN", viewport=WIDE, bypass_csp=True)
    p = await context.new_page()
    await login(p, full_site)

    async def contrast() -> list[str]:
        await p.add_script_tag(path=str(axe_script))
        # axe files white-on-white text (1:1) under "incomplete" (it may be hidden on purpose):
        # for a clerk it is invisible, so it counts as a failure here.
        return await p.evaluate(
            "async () => { const r = await axe.run(document, {runOnly: ['color-contrast']});"
            " const unsure = r.incomplete.flatMap(v => v.nodes).filter(n => n.any.some(c => /contrast ratio/.test(c.message)));"
            " return r.violations.flatMap(v => v.nodes).concat(unsure)"
            ".map(n => n.target.join(' ') + ' ' + n.any.map(c => c.message).join(';')); }")

    p.contrast = contrast
    yield p
    await context.close()


async def fill_case(page, site, rows, registration_type="transfer", case_number=TRANSFER_CASE, submit=True,
                    purpose="转移登记"):
    """Fill the case form: rows are (role, fields) pairs; extra rows are added as needed."""
    await page.goto(site.url + "/cases")
    await page.fill("#case_number", case_number)
    await page.select_option("#purpose", purpose)
    await page.select_option("#registration_type", registration_type)
    for i, (role, person) in enumerate(rows):
        while await page.locator(f"select[name=p{i}_role]").count() == 0:
            await page.click("#add-party")
        await page.select_option(f"select[name=p{i}_role]", role)
        for name, value in person.items():
            if name in ("name", "id_number", "organization_name", "credit_code", "license_code"):
                await page.fill(f"[name=p{i}_{name}]", value)
    if submit:
        await page.click("#case-form button[type=submit]")
        await page.wait_for_selector("#case-status, #errors")


async def lookup(page, site, kind: str, fields: dict, case_number="2026-110105-000321"):
    await page.goto(site.url + f"/lookup/{kind}")
    await page.fill("#case_number", case_number)
    await page.select_option("#purpose", "转移登记")
    for name, value in fields.items():
        await page.fill(f"[name={name}]", value)
    await page.click("#lookup-form button[type=submit]")
    await page.wait_for_selector("#result, #errors")


async def tones(page) -> list[str]:
    """The meaning class of every badge in the result (good / attention / blocked / unavailable / stale / info)."""
    classes = await page.locator(".result .badge").evaluate_all("els => els.map(e => e.className)")
    return [c.replace("badge", "").strip() for c in classes]


async def fault(departments, dept: str, plan: dict) -> None:  # noqa: F811
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{departments[dept].url}/_admin/faults", json=plan) as r:
            assert r.status == 200


def shot(name: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / name)


# ------------------------------------------------------------------ colours and contrast

async def test_every_page_and_state_passes_color_contrast(axe_clerk, full_site, samples):
    """Failed before: the badges were white on no background (class "good", CSS only had "ok")."""
    p, site = axe_clerk, full_site
    a, b = samples["identity"]["match"][:2]
    seen = {}
    for path in ("/cases", "/lookup", "/history", "/status", "/records/verify"):
        await p.goto(site.url + path)
        seen[path] = await p.contrast()
    await fill_case(p, site, [("seller", a), ("buyer", b)])  # streamed with JavaScript
    await p.wait_for_selector("#case-status")
    seen["case result"] = await p.contrast()
    await p.goto(site.url + "/history")
    seen["history with a case"] = await p.contrast()
    href = await p.locator(".reprint").first.get_attribute("href")
    await p.goto(site.url + href)
    seen["print view"] = await p.contrast()
    await p.emulate_media(media="print")
    seen["print view, print media"] = await p.contrast()
    await p.emulate_media(media="screen")
    for kind, fields in (("death", samples["death"]["deceased"][0]), ("identity", samples["identity"]["name_mismatch"][0])):
        await lookup(p, site, kind, {"name": fields["name"], "id_number": fields["id_number"]})
        seen[kind] = await p.contrast()
    await p.goto(site.url + "/login")
    assert seen == {k: [] for k in seen}


async def test_streaming_progress_passes_color_contrast(axe_clerk, full_site, departments, samples):  # noqa: F811
    await fault(departments, "marriage", {"latency": "1500"})
    a, b = samples["identity"]["match"][:2]
    await fill_case(axe_clerk, full_site, [("seller", a), ("buyer", b)], submit=False)
    await axe_clerk.click("#case-form button[type=submit]")
    await axe_clerk.wait_for_selector("#progress-checks li")
    assert await axe_clerk.locator("#case-status").count() == 0  # still streaming
    assert await axe_clerk.contrast() == []


async def test_single_lookup_colours_follow_meaning(clerk, full_site, samples):
    """Failed before: a death record, a revoked company and a withdrawn licence were green;
    "no death record" was orange; a spouse who is not the spouse was as green as a couple."""
    s = samples
    found = {}
    cases = {
        "death found": ("death", {"name": s["death"]["deceased"][0]["name"], "id_number": s["death"]["deceased"][0]["id_number"]}),
        "death none": ("death", {"name": s["death"]["living"][0]["name"], "id_number": s["death"]["living"][0]["id_number"]}),
        "revoked": ("organization", {"credit_code": s["credit_code"]["revoked"][0]["credit_code"]}),
        "active": ("organization", {"credit_code": s["credit_code"]["active"][0]["credit_code"]}),
        "withdrawn": ("license", {"license_code": s["financial_license"]["withdrawn"][0]["license_code"]}),
        "licensed": ("license", {"license_code": s["financial_license"]["licensed_bank"][0]["license_code"]}),
    }
    for key in ("couple", "not_a_couple"):
        m = s["marriage"][key][0]
        cases[key] = ("marriage", {k: m[k] for k in ("name", "id_number", "spouse_name", "spouse_id_number")})
    for label, (kind, fields) in cases.items():
        await lookup(clerk, full_site, kind, fields)
        found[label] = (await tones(clerk))[0]
    # a withdrawn licence (YB01 has no status field: no print date) is left to a person, never green
    assert found == {"death found": "blocked", "death none": "good", "revoked": "blocked", "active": "good",
                     "withdrawn": "unavailable", "licensed": "good", "couple": "good", "not_a_couple": "attention"}


async def test_pending_court_answer_is_a_chinese_pending_state(clerk, full_site, samples):
    """Failed before: KeyError 'PENDING' gave a raw English JSON 500."""
    response = None

    async def keep(r):
        nonlocal response
        if r.request.method == "POST":
            response = r

    clerk.on("response", keep)
    await lookup(clerk, full_site, "judgment", {"judgment_number": samples["court"]["pending"]["case_number"]})
    assert response.status == 200
    assert await clerk.inner_text(".result .badge") == "法院尚未答复"
    assert "attention" in await clerk.get_attribute(".result .badge", "class")
    assert "稍后" in await clerk.inner_text("#result")
    await clerk.screenshot(path=shot("judgment-pending.png"), full_page=True)


# ------------------------------------------------------------------ home page, roles, rows

async def test_home_is_the_case_check_with_single_lookups_second(clerk, full_site):
    assert clerk.url.endswith("/cases")
    assert await clerk.locator("nav[aria-label=主导航] a[href='/cases']").count() == 1
    assert await clerk.locator("h1").first.inner_text() == "案件核验"
    tiles = clerk.locator("#single-lookups a")
    assert await tiles.count() == len(registry().operations)  # one tile per declared lookup
    form_box, tiles_box = await clerk.locator("#case-form").bounding_box(), await tiles.first.bounding_box()
    assert form_box["y"] < tiles_box["y"]  # the case check first, single lookups second
    await clerk.screenshot(path=shot("home-case-check.png"), full_page=True)


async def test_role_lists_per_registration_type_and_rows_added(clerk, full_site):
    """Failed before: every type's labels merged, with the internal key in brackets, 权利人 by default."""
    await clerk.goto(full_site.url + "/cases")
    await clerk.select_option("#registration_type", "transfer")
    options = await clerk.locator("select[name=p0_role] option").evaluate_all(
        "os => os.map(o => [o.value, o.textContent.trim()])")
    plan = full_site.node.cases.plans.types["transfer"]
    assert options == [[key, role.label] for key, role in plan.roles.items()]  # this type's own roles only
    assert options[:2] == [["seller", "转让方"], ["buyer", "受让方"]]
    assert await clerk.input_value("select[name=p0_role]") == "seller"
    assert await clerk.input_value("select[name=p1_role]") == "buyer"
    await clerk.select_option("#registration_type", "inheritance")
    values = await clerk.locator("select[name=p0_role] option").evaluate_all("os => os.map(o => o.value)")
    assert values == list(full_site.node.cases.plans.types["inheritance"].roles)
    assert await clerk.input_value("select[name=p1_role]") == "heir"
    for _ in range(3):
        await clerk.click("#add-party")
    assert await clerk.locator("tr.party").count() == 7
    await clerk.locator("tr.party").nth(6).locator(".remove-party").click()
    assert await clerk.locator("tr.party").count() == 6
    # The party table fits a 1366 px screen: nothing right of the viewport, no horizontal scroll.
    right = await clerk.evaluate("Math.max(...[...document.querySelectorAll('#case-form *')]"
                                 ".map(e => e.getBoundingClientRect().right))")
    assert right <= 1366 and await clerk.evaluate("document.documentElement.scrollWidth") <= 1366
    await clerk.screenshot(path=shot("case-form-inheritance.png"), full_page=True)


async def test_five_heirs_fit_and_are_told_apart(clerk, full_site, samples, world):
    """Failed before: only 4 rows; two heirs named 谢 read the same."""
    dead = samples["death"]["deceased"][0]
    heirs = samples["identity"]["match"][:5]
    rows = [("decedent", dead)] + [("heir", h) for h in heirs]
    await fill_case(clerk, full_site, rows, registration_type="inheritance", purpose="继承（受遗赠）登记")
    await clerk.wait_for_selector("#case-status")
    items = await clerk.locator("#checks td.item").all_inner_texts()
    assert any(f"继承人 5 {mask_name(heirs[4]['name'])}" in t for t in items)
    assert len(set(items)) == len(items)  # every row tells which party it is


# ------------------------------------------------------------------ input

async def test_input_is_normalised_before_it_is_cut(clerk, full_site, samples):
    """Failed before: "522x" stayed lower case, a pasted leading space made maxlength cut the
    last digit, and full-width digits gave a checksum error."""
    couple = samples["marriage"]["couple"][0]
    person = {"name": couple["spouse_name"], "id_number": couple["spouse_id_number"]}  # ends in X
    number = person["id_number"]
    assert number.endswith("X")
    await clerk.goto(full_site.url + "/lookup/identity")
    await clerk.focus("#id_number")
    await clerk.keyboard.insert_text(" " + number[:-1] + "x ")
    assert await clerk.input_value("#id_number") == number
    await clerk.fill("#id_number", "")
    await clerk.focus("#id_number")
    await clerk.keyboard.insert_text(number.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}))
    assert await clerk.input_value("#id_number") == number
    # The server normalises as well (no JavaScript, or a value set directly).
    await clerk.fill("#case_number", "2026-110105-000555")
    await clerk.fill("#name", person["name"])
    await clerk.evaluate("v => { const i = document.getElementById('id_number'); i.removeAttribute('maxlength');"
                         " i.value = v; }", "\u3000" + number[:-1].translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}) + "x")
    await clerk.click("#lookup-form button[type=submit]")
    await clerk.wait_for_selector("#result, #errors")
    assert await clerk.locator("#errors").count() == 0
    assert await clerk.inner_text(".result .badge >> nth=0") == "一致"


async def test_switching_lookup_keeps_case_number_and_purpose(clerk, full_site):
    await clerk.goto(full_site.url + "/lookup/identity")
    await clerk.fill("#case_number", "2026-110105-000777")
    await clerk.select_option("#purpose", "抵押登记")
    await clerk.click("nav.kinds a[href^='/lookup/judgment']")
    await clerk.wait_for_url("**/lookup/judgment**")
    assert await clerk.input_value("#case_number") == "2026-110105-000777"
    assert await clerk.input_value("#purpose") == "抵押登记"
    ids = await clerk.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)")
    assert len(ids) == len(set(ids))  # 案号 and 受理编号 no longer share an id
    assert await clerk.get_attribute("label[for=judgment_number]", "for") == "judgment_number"


async def test_first_field_within_three_tabs(clerk, full_site):
    for path in ("/cases", "/lookup/identity"):
        await clerk.goto(full_site.url + path)
        reached = await clerk.evaluate("document.activeElement.id") == "case_number"
        tabs = 0
        while not reached and tabs < 3:
            await clerk.keyboard.press("Tab")
            tabs += 1
            reached = await clerk.evaluate("document.activeElement.id") == "case_number"
        assert reached, path


async def test_keyboard_only_transfer_case(clerk, full_site, world):
    """The commonest job, seller and buyer of a 转移登记 then print, without the mouse."""
    from tests.test_case_check_departments import unmarried

    a, b = ({"name": p.name, "id_number": p.id_number} for p in unmarried(world)[:2])
    await clerk.goto(full_site.url + "/cases")
    keys = 0

    async def press(key: str, times: int = 1):
        nonlocal keys
        for _ in range(times):
            await clerk.keyboard.press(key)
            keys += 1

    async def type_(text: str):
        nonlocal keys
        await clerk.keyboard.type(text)
        keys += len(text)

    async def tab_to(name: str):
        while await clerk.evaluate("document.activeElement.name") != name:
            await press("Tab")
            assert keys < 200

    assert await clerk.evaluate("document.activeElement.id") == "case_number"  # autofocus
    await type_(TRANSFER_CASE)
    await tab_to("purpose")
    await press("ArrowDown")  # 首次登记 -> 转移登记
    await tab_to("registration_type")
    await press("ArrowDown")  # first -> transfer: rows 1 and 2 become 转让方 and 受让方
    await tab_to("p0_name")
    await type_(a["name"])
    await tab_to("p0_id_number")
    await type_(a["id_number"])
    await tab_to("p1_name")
    await type_(b["name"])
    await tab_to("p1_id_number")
    await type_(b["id_number"])
    await press("Enter")
    await clerk.wait_for_selector("#case-status")
    typed = len(TRANSFER_CASE) + len(a["name"]) + len(a["id_number"]) + len(b["name"]) + len(b["id_number"])
    assert await clerk.inner_text("#case-status") == "所列项目未发现异常"
    assert keys - typed <= 16, keys  # navigation keys beyond the data itself
    await clerk.screenshot(path=shot("case-result.png"), full_page=True)
    async with clerk.context.expect_page() as printed:
        await clerk.focus("#print-link")
        await clerk.keyboard.press("Enter")
    tab = await printed.value
    await tab.wait_for_load_state()
    assert "核验记录" in await tab.inner_text("h1")
    assert "/cases" in clerk.url and await clerk.locator("#case-status").count() == 1  # the result stays


async def test_idle_timeout_during_streaming_keeps_the_form(clerk, full_site, samples):
    """Failed before: after the idle logout the page showed 核验进行中… for ever."""
    a, b = samples["identity"]["match"][:2]
    await fill_case(clerk, full_site, [("seller", a), ("buyer", b)], submit=False)
    await full_site.sql("UPDATE sessions SET last_seen = last_seen - 901")
    await clerk.click("#case-form button[type=submit]")
    await clerk.wait_for_selector("#session-expired")
    text = await clerk.inner_text("#session-expired")
    assert "会话已超时" in text and "表单内容已保留" in text
    assert await clerk.get_attribute("#session-expired a", "target") == "_blank"
    assert await clerk.input_value("input[name=p0_name]") == a["name"]
    assert await clerk.input_value("#case_number") == TRANSFER_CASE
    assert "核验进行中" not in await clerk.inner_text("main")
    await clerk.screenshot(path=shot("case-session-expired.png"), full_page=True)


# ------------------------------------------------------------------ the printed record

async def _print_view(clerk, site, samples, world):
    a, b = samples["identity"]["match"][:2]
    await fill_case(clerk, site, [("seller", a), ("buyer", b)])
    href = await clerk.get_attribute("#print-link", "href")
    assert await clerk.get_attribute("#print-link", "target") == "_blank"
    await clerk.goto(site.url + href)
    return a, b


async def test_printed_record_fits_a4_under_the_csp(clerk, full_site, samples, world):
    """Failed before: inline styles blocked by the CSP, UTC ISO time, login id as operator,
    check ids as items, no verdict column, no signature line, no page numbers, and the
    signature ran off the page."""
    a, b = await _print_view(clerk, full_site, samples, world)
    body = await clerk.inner_text("body")
    assert re.search(r"核验时间（北京时间）\s*20\d\d年\d\d月\d\d日 \d\d:\d\d", body)
    assert "王晓梅" in await clerk.inner_text("#operator")
    rows = await clerk.locator("#checks tbody tr").evaluate_all(
        "trs => trs.map(tr => [...tr.cells].map(td => td.innerText.trim()))")
    assert rows[0][0] == f"身份核查 · 转让方 {mask_name(a['name'])}"
    assert rows[0][1] == "公安部" and rows[0][2] == "一致"
    own = [r[0].split(" · ")[0] for r in rows if "的配偶" not in r[0]]
    assert own == ["身份核查", "死亡核查", "火化核查", "婚姻核查"] * 2  # check order, party by party
    assert [r[0].split(" · ")[1].split()[0] for r in rows] == sorted(
        (r[0].split(" · ")[1].split()[0] for r in rows), key=["转让方", "受让方"].index)
    assert all(re.match(r"20\d\d-\d\d-\d\d \d\d:\d\d", r[3]) for r in rows)
    assert "经办人签字" in body and "日期" in body
    verify = await clerk.inner_text("#verification")
    assert "querynode record verify" in verify and "/records/verify" in verify
    assert await clerk.locator("#verification svg.qr").count() == 1
    for secret in (a["name"], a["id_number"], b["id_number"]):
        assert secret not in await clerk.content()
    await clerk.screenshot(path=shot("record-print.png"), full_page=True)

    await clerk.emulate_media(media="print")
    await clerk.set_viewport_size({"width": 680, "height": 960})  # A4 less the page margins, at 96 dpi
    overflow = await clerk.evaluate(
        "() => [...document.body.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right >"
        " document.documentElement.clientWidth + 0.5).map(e => e.tagName + '.' + e.className)")
    assert overflow == []
    pdf = await clerk.pdf(format="A4", prefer_css_page_size=True)
    reader = PdfReader(io.BytesIO(pdf))
    pages = len(reader.pages)
    assert 1 <= pages <= 2
    text = reader.pages[0].extract_text()
    assert f"第 1 页 共 {pages} 页".replace(" ", "") in text.replace(" ", "")
    assert not [m for m in clerk.console_messages if "Content Security Policy" in m or "Refused" in m]
    (SCREENSHOTS / "record-print.pdf").write_bytes(pdf)


async def test_record_verify_page_and_qr(clerk, full_site, samples, world):
    await _print_view(clerk, full_site, samples, world)
    record_id = (await clerk.inner_text("#record-id")).strip()
    digest = (await clerk.inner_text("#record-digest")).strip()
    qr = await clerk.get_attribute("#verification svg.qr", "data-content")
    assert record_id in qr and digest in qr
    await clerk.goto(full_site.url + "/records/verify")
    await clerk.fill("#record_id", record_id)
    await clerk.fill("#digest", digest)
    await clerk.click("main button[type=submit]")
    await clerk.wait_for_selector("#verify-result")
    assert "记录有效" in await clerk.inner_text("#verify-result")
    assert "good" in await clerk.get_attribute("#verify-result .badge", "class")
    await clerk.screenshot(path=shot("record-verify.png"), full_page=True)
    await clerk.fill("#record_id", record_id)
    await clerk.fill("#digest", digest[:-4] + "0000")
    await clerk.click("main button[type=submit]")
    await clerk.wait_for_selector("#verify-result")
    assert "不一致" in await clerk.inner_text("#verify-result")


# ------------------------------------------------------------------ no English

# Words a clerk uses as they are: the command on the printed record, digest and signature
# schemes, and the login ids of the test accounts shown in the header.
ALLOWED = {"querynode", "record", "verify", "records", "sha", "clerk", "auditor"}


# Codes a clerk copies as they are: record and audit ids (hex), the digest and the signature.
CODES = re.compile(r"(sha256|sm3):[0-9a-f]+|ed25519:[A-Za-z0-9+/=]+|\b[0-9a-f]{12,}\b")


async def english_words(page) -> set[str]:
    text = CODES.sub(" ", await page.evaluate("document.body.innerText"))
    return {w for w in re.findall(r"[A-Za-z]{3,}", text)} - ALLOWED


async def test_no_english_on_any_page_in_any_state(clerk, full_site, samples, browser, departments):  # noqa: F811
    """Failed before: English validator messages, parties[0].role, 权利人（holder）, HTTP 503,
    CheckCase / CLEAR in the history, "querynode users add" on the login page."""
    p, site = clerk, full_site
    a, b = samples["identity"]["match"][:2]
    leaks = {}

    async def scan(state: str):
        found = await english_words(p)
        if found:
            leaks[state] = found

    for path in ("/cases", "/lookup", "/status", "/records/verify", "/password"):
        await p.goto(site.url + path)
        await scan(path)
    for kind in ("identity", "organization", "license", "judgment", "marriage", "place-name", "death"):
        await p.goto(site.url + f"/lookup/{kind}")
        await scan(kind)
    await lookup(p, site, "identity", {"name": a["name"], "id_number": a["id_number"][:-1] + "0"})
    await scan("bad check digit")
    await lookup(p, site, "identity", {"name": a["name"], "id_number": "12345"})
    await scan("too short")
    await lookup(p, site, "organization", {"credit_code": samples["credit_code"]["revoked"][0]["credit_code"]})
    await scan("revoked")
    await fill_case(p, site, [("seller", a), ("buyer", b)])
    await scan("case result")
    await fill_case(p, site, [("seller", a)], registration_type="transfer", submit=False)
    await p.evaluate("() => { const s = document.querySelector('select[name=p0_role]');"
                     " s.add(new Option('x', 'decedent')); s.value = 'decedent'; }")  # a role the type lacks
    await p.click("#case-form button[type=submit]")
    await p.wait_for_selector("#errors")
    assert "第 1 行当事人的角色" in await p.inner_text("#errors")
    await scan("case invalid role")
    await p.goto(site.url + "/history")
    await scan("history")
    href = await p.locator(".reprint").first.get_attribute("href")
    await p.goto(site.url + href)
    await scan("print")
    await fault(departments, "death", {"error_rate": 1.0})  # the department goes away
    c, d = samples["identity"]["match"][2:4]  # not in the cache
    await fill_case(p, site, [("seller", c), ("buyer", d)], case_number="2026-110105-001002")
    await scan("source unavailable")
    await p.goto(site.url + "/history")
    await scan("history with unavailable")
    context = await browser.new_context(locale="zh-CN")
    login_page = await context.new_page()
    await login_page.goto(site.url + "/login")
    text = await login_page.evaluate("document.body.innerText")
    await context.close()
    assert "users add" not in text and not {w for w in re.findall(r"[A-Za-z]{3,}", text)}
    assert leaks == {}


async def test_unavailable_source_says_what_to_do_next(clerk, full_site, samples, departments):  # noqa: F811
    a, b = samples["identity"]["match"][:2]
    await fault(departments, "marriage", {"error_rate": 1.0})
    await fill_case(clerk, full_site, [("seller", a), ("buyer", b)])
    row = clerk.locator("#checks tbody tr", has_text="婚姻核查").first
    assert "unavailable" in await row.locator(".badge").first.get_attribute("class")
    assert "民政部" in await row.inner_text() and "重新核验" in await row.inner_text()
    await clerk.screenshot(path=shot("case-source-unavailable.png"), full_page=True)


# ------------------------------------------------------------------ masking, history, status

async def test_judgment_text_masks_every_named_person(clerk, full_site, world):
    """Failed before: "被继承人谢佳" appeared unmasked in the operative text."""
    case = next(c for c in generate(world) if c.cause == "继承纠纷" and c.kind != "pending")
    await lookup(clerk, full_site, "judgment", {"judgment_number": case.case_number})
    text = await clerk.inner_text("#result")
    decedent = re.search(r"被继承人(\S{2,3})名下", "".join(d for doc in case.documents for d in doc.operative))
    assert decedent and decedent.group(1) not in text
    for party in case.parties:
        assert party.name not in text


async def test_history_shows_subjects_verdicts_and_reprints(clerk, full_site, samples):
    a, b = samples["identity"]["match"][:2]
    await fill_case(clerk, full_site, [("seller", a), ("buyer", b)])
    await clerk.goto(full_site.url + "/history")
    row = clerk.locator("tr", has_text="案件核验").first
    text = await row.inner_text()
    assert "所列项目未发现异常" in text and mask_name(a["name"]) in text and a["name"] not in text
    assert await row.locator("a.reprint").get_attribute("target") == "_blank"
    await clerk.screenshot(path=shot("history.png"), full_page=True)


async def test_status_chart_is_readable_and_shows_recovery(clerk, full_site, samples, departments):  # noqa: F811
    a = samples["identity"]["match"][0]
    await lookup(clerk, full_site, "identity", {"name": a["name"], "id_number": a["id_number"]})
    await fault(departments, "identity", {"error_rate": 1.0})
    await lookup(clerk, full_site, "identity", {"name": samples["identity"]["match"][1]["name"],
                                                "id_number": samples["identity"]["match"][1]["id_number"]})
    await clerk.goto(full_site.url + "/status")
    card = clerk.locator("article.dept", has_text="公安部")
    box = await card.locator("svg.chart").bounding_box()
    assert box["width"] >= 400 and box["height"] >= 120
    assert await card.locator("svg.chart .axis").count() >= 2
    assert "最近一次失败" in await card.inner_text()
    await fault(departments, "identity", {})
    await lookup(clerk, full_site, "identity", {"name": samples["identity"]["match"][2]["name"],
                                                "id_number": samples["identity"]["match"][2]["id_number"]})
    await clerk.goto(full_site.url + "/status")
    assert "已恢复" in await card.inner_text()
    await clerk.screenshot(path=shot("status.png"), full_page=True)
