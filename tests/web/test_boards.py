"""The boards in a real browser against a real server on the demo county."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from tests.web.conftest import Browsing, Demo, open_browsing, scan


def _text(web: Browsing, selector: str) -> str:
    return str(web.page.locator(selector).inner_text())


def test_login_navigation_follows_the_role(web: Browsing, demo: Demo) -> None:
    web.goto("/cssd")
    assert "/login" in web.page.url  # no session: to the login page, remembering where
    web.page.fill("#username", "courier1")
    web.page.fill("#password", "not-the-password")
    web.page.click("#login-submit")
    assert "用户名或密码错误" in _text(web, "#login-error")

    web.login("courier1")
    nav = web.page.locator("header.top nav a").all_inner_texts()
    assert nav == ["追溯查询"]  # a courier sees the timeline only
    response = web.goto("/cssd")
    assert response is not None and response.status == 403
    assert "配送员无权打开此页面" in _text(web, "#error-detail")

    web.page.click("#logout")
    web.page.wait_for_url(re.compile(r".*/login$"))
    assert web.goto("/timeline") is not None and "/login" in web.page.url

    web.login("admin")
    nav = web.page.locator("header.top nav a").all_inner_texts()
    assert nav == ["调度", "检验接收", "消毒供应", "追溯查询", "系统管理"]
    web.page.click("#lang-switch")
    nav = web.page.locator("header.top nav a").all_inner_texts()
    assert nav == ["Dispatch", "Lab receiving", "Sterile supply", "Item timeline", "Administration"]


def test_forms_without_the_csrf_token_are_refused(web: Browsing, demo: Demo) -> None:
    web.login("lab1")
    discrepancy = demo.call("admin", "GET", "/discrepancies?state=open")[0]["id"]
    refused = web.page.request.post(
        f"{demo.base}/lab/discrepancies/{discrepancy}",
        form={"state": "resolved", "note": "forged"},
    )
    assert refused.status == 403
    assert "CSRF" in refused.text()
    still = demo.call("admin", "GET", "/discrepancies?state=open")
    assert discrepancy in [d["id"] for d in still]


def test_scan_a_barcode_and_read_its_timeline_by_keyboard(web: Browsing, demo: Demo) -> None:
    broken = next(
        a
        for a in demo.call("admin", "GET", "/alerts?include_closed=true")
        if a["kind"] == "seal_broken"
    )
    chain = demo.call("admin", "GET", f"/items/{broken['item']}/custody")
    web.login("lab1")
    web.goto("/timeline")
    assert web.page.evaluate("document.activeElement.id") == "scan"
    web.page.keyboard.type(broken["item"])  # a keyboard-wedge scanner types, then Enter
    web.page.keyboard.press("Enter")
    result = web.page.locator("#result")
    result.wait_for()
    assert result.get_attribute("data-barcode") == broken["item"]
    assert result.get_attribute("data-tone") == "warn"  # the broken seal is flagged
    assert web.page.locator("#chain li").count() == len(chain["events"])
    assert "哈希链完整" in _text(web, "#verify-status")
    assert "封" in _text(web, "#chain")  # the seal event, in Chinese
    assert web.page.evaluate("document.activeElement.id") == "scan"  # ready for the next scan
    assert web.page.input_value("#scan") == ""
    big = web.page.locator("#result .big").evaluate("e => getComputedStyle(e).fontSize")
    assert float(big.removesuffix("px")) >= 28

    web.page.keyboard.type("BX0000000000")
    web.page.keyboard.press("Enter")
    web.page.wait_for_selector("#result[data-tone=bad]")
    assert "BX0000000000" in _text(web, "#result")
    assert "长度不对" in _text(web, "#result")  # the scanner's misread, said in Chinese
    web.screenshot("timeline")


def test_a_cssd_worker_corrects_a_wrong_operator_from_the_timeline(
    web: Browsing, demo: Demo
) -> None:
    """The receipt was scanned under the wrong badge: corrected with a reason, in the page."""
    packs = demo.call("admin", "GET", "/items?kind=pack&limit=1")
    tray = demo.call("admin", "GET", f"/cssd/packs/{packs[0]['barcode']}")["set"]
    chain = demo.call("admin", "GET", f"/items/{tray}/custody")["events"]
    step = next(e for e in reversed(chain) if e["actor"] and e["type"] != "correction")
    right = demo.badge("cssd3" if step["actor"]["badge"] != demo.badge("cssd3") else "cssd2")
    web.login("cssd2")
    web.goto(f"/timeline?code={tray}")
    item = web.page.locator(f"#chain li:has(input[name=event_id][value='{step['event_id']}'])")
    item.locator("summary").click()
    item.locator("select[name=field]").select_option("actor")
    item.locator("input[name=value]").fill(right)
    item.locator("input[name=reason]").fill("扫错工牌")
    item.locator("button[type=submit]").click()
    web.page.wait_for_selector("#chain li[data-type=correction]")
    shown = web.page.locator("#chain li[data-type=correction]").first.inner_text()
    assert "扫错工牌" in shown and right in shown and step["actor"]["badge"] in shown
    after = demo.call("admin", "GET", f"/items/{tray}/custody")["events"]
    assert after[: len(chain)] == chain and after[-1]["details"]["after"] == right
    assert not web.console_errors, web.console_errors
    web.screenshot("timeline-correction")


def _finished_load(demo: Demo) -> str:
    """A set used at T01 comes back, is washed, packed and sterilized on ST1 (through the API)."""
    clinic, courier = demo.badge("clinic01"), demo.badge("courier1")
    tray = demo.call("admin", "GET", "/items?kind=instrument_set&state=in_use&site=T01&limit=1")[0][
        "barcode"
    ]
    results = demo.scans(
        "T01",
        scan("return_used", tray, clinic),
        scan("collect", tray, courier, counterparty=clinic),
    )
    assert [r["status"] for r in results["results"]] == ["accepted", "accepted"], results
    template = demo.call("cssd1", "GET", f"/cssd/sets/{tray}")["template"]
    instruments = next(
        t["instruments"]
        for t in demo.call("cssd1", "GET", "/cssd/templates")
        if t["code"] == template
    )
    counted = {i["name"]: i["count"] for i in instruments}
    demo.call(
        "cssd1", "POST", "/cssd/receipts", {"set": tray, "courier": courier, "counted": counted}
    )
    wash = demo.call(
        "cssd1",
        "POST",
        "/cssd/washes",
        {"washer": "WD1", "program": "standard", "sets": [tray]},
        201,
    )
    demo.call(
        "cssd1",
        "POST",
        f"/cssd/washes/{wash['number']}/finish",
        {"passed": True, "parameters": {"a0": 3000}},
    )
    demo.call("cssd1", "POST", f"/cssd/sets/{tray}/inspection", {"passed": True})
    pack = demo.call(
        "cssd1", "POST", "/cssd/packs", {"set": tray, "checker": demo.badge("cssd2")}, 201
    )
    demo.call(
        "cssd1", "POST", "/cssd/machines/ST1/tests", {"kind": "bowie_dick", "passed": True}, 201
    )
    load = demo.call(
        "cssd1", "POST", "/cssd/loads", {"sterilizer": "ST1", "program": "134°C 4 min"}, 201
    )
    number = load["number"]
    demo.call("cssd1", "POST", f"/cssd/loads/{number}/packs", {"pack": pack["barcode"]})
    demo.call("cssd1", "POST", f"/cssd/loads/{number}/start")
    finish = {"passed": True, "temperature_c": 134.2, "pressure_kpa": 210, "hold_minutes": 4}
    demo.call("cssd1", "POST", f"/cssd/loads/{number}/finish", finish)
    return str(number)


def test_quarantine_and_release_a_load(web: Browsing, demo: Demo) -> None:
    number = _finished_load(demo)
    web.login("cssd1")
    web.goto("/cssd")
    form = web.page.locator(f"#to-quarantine form[data-load='{number}']")
    form.locator("input[name=cooling_minutes]").fill("35")
    form.locator("button[type=submit]").click()
    row = web.page.locator(f"#awaiting-release tr[data-load='{number}']")
    row.wait_for()
    assert "待放行" in _text(web, "#flash")
    assert web.page.locator(f"#to-quarantine form[data-load='{number}']").count() == 0
    row.locator("button.release").click()
    web.page.wait_for_selector("#flash:has-text('已放行')")
    assert number in _text(web, "#flash")
    assert web.page.locator(f"#awaiting-release tr[data-load='{number}']").count() == 0
    load = demo.call("cssd1", "GET", f"/cssd/loads/{number}")
    assert load["status"] == "released"
    assert load["released_by"] == demo.badge("cssd1")
    pack = demo.call("cssd1", "GET", f"/cssd/packs/{load['items'][0]}")
    assert pack["state"] == "released" and pack["expires_on"]
    web.screenshot("cssd-after-release")

    again = web.page.request.post(
        f"{demo.base}/cssd/loads/{number}/release",
        headers={"X-CSRF-Token": web.page.locator("input[name=csrf]").first.input_value()},
    )
    assert again.status == 409  # the service's own refusal, as HTML
    assert "<html" in again.text() or "msg bad" in again.text()


def test_a_courier_cannot_release_a_load_from_the_page(
    browser: Any, web: Browsing, demo: Demo
) -> None:
    web.login("courier1")
    csrf = web.page.locator("input[name=csrf]").first.input_value()
    refused = web.page.request.post(
        f"{demo.base}/cssd/loads/ST1-00000000-01/release", headers={"X-CSRF-Token": csrf}
    )
    assert refused.status == 403


def test_resolve_a_discrepancy_on_the_lab_board(web: Browsing, demo: Demo) -> None:
    web.login("lab1")
    web.goto(f"/lab?day={demo.day}")
    assert int(_text(web, "#n-expected")) > 0
    assert int(_text(web, "#n-late")) >= 1
    assert int(_text(web, "#n-rejected")) >= 0
    form = web.page.locator("#discrepancies form").first
    discrepancy = form.get_attribute("data-discrepancy")
    form.locator("input[name=note]").fill("箱子次日补送")
    form.locator("button[type=submit]").click()
    web.page.wait_for_selector("#flash .msg.ok")
    assert "差异已处理" in _text(web, "#flash")
    assert web.page.locator(f"#discrepancies form[data-discrepancy='{discrepancy}']").count() == 0
    resolved = demo.call("lab1", "GET", "/discrepancies?state=resolved")
    done = next(d for d in resolved if d["id"] == discrepancy)
    assert done["resolution"] == "箱子次日补送"


def test_receive_and_accept_a_box_by_keyboard(web: Browsing, demo: Demo) -> None:
    box = demo.call("admin", "GET", "/items?kind=specimen_box&state=available&site=T06&limit=1")[0]
    clinic, courier = demo.badge("clinic06"), demo.badge("courier4")
    demo.scans(
        "T06",
        scan("prepare", box["barcode"], clinic, specimen_type="micro_swab", count=4),
        scan("seal", box["barcode"], clinic, seal="S-LAB-6"),
        scan("pickup", box["barcode"], courier, counterparty=clinic, seal_intact=True),
    )
    web.login("lab1")
    web.goto("/lab")
    assert web.page.evaluate("document.activeElement.id") == "scan"
    web.page.keyboard.type(box["barcode"])
    web.page.keyboard.press("Enter")
    answer = web.page.locator(f"#received[data-barcode='{box['barcode']}']")
    answer.wait_for()
    assert answer.get_attribute("data-status") in {"accepted", "flagged"}, answer.inner_text()
    assert "检验中心已接收" in answer.inner_text()
    assert web.page.evaluate("document.activeElement.id") == "scan"  # ready for the next box
    web.page.click("#accept")
    web.page.wait_for_selector("#received:has-text('验收合格')")
    assert demo.call("lab1", "GET", f"/items/{box['barcode']}")["state"] == "accepted"
    web.page.keyboard.type(box["barcode"])  # the same box again: the lifecycle refuses, in red
    web.page.keyboard.press("Enter")
    web.page.wait_for_selector("#received[data-tone=warn], #received[data-tone=bad]")
    web.screenshot("lab-receive")


def test_new_alerts_arrive_without_reloading(web: Browsing, demo: Demo) -> None:
    web.login("lab1")
    web.goto(f"/lab?day={demo.day}")
    before = int(_text(web, "#alert-count"))
    box = demo.call("admin", "GET", "/items?kind=specimen_box&state=sealed&limit=1")[0]
    site = box["current_site"]["code"]
    courier = demo.badge("courier2")
    demo.scans(site, scan("pickup", box["barcode"], courier, seal_intact=False))
    toast = web.page.locator("#alerts-live .msg").first
    toast.wait_for(timeout=8000)
    assert box["barcode"] in toast.inner_text()
    web.page.wait_for_selector(f"#alerts tr:has-text('{box['barcode']}')", timeout=8000)
    assert int(_text(web, "#alert-count")) >= before + 1


def test_dispatcher_board_draws_the_routes_without_tiles(web: Browsing, demo: Demo) -> None:
    web.login("dispatcher")
    web.goto(f"/dispatch?day={demo.day}")
    web.page.wait_for_selector("#map[data-routes]")
    routes = int(web.page.get_attribute("#map", "data-routes") or 0)
    assert routes == 4  # the demo's four couriers
    assert web.page.locator("#map path.route-line").count() == 4
    assert web.page.locator("#map .site-label").count() == 23
    assert web.page.locator("#map img.leaflet-tile").count() == 0  # no tile server: no tiles
    assert web.page.locator("#trip-table tr[data-trip]").count() == 4
    assert web.page.locator("#plan-button").count() == 0  # no planning of a day gone by
    web.screenshot("dispatch")
    first = web.page.locator("#trip-table tr[data-trip]").first.get_attribute("data-trip")
    sheet = web.context.new_page()
    sheet.goto(f"{demo.base}/dispatch/sheets?trip={first}")
    assert sheet.locator("section.sheet").count() == 1
    assert first in sheet.locator("section.sheet").inner_text()
    sheet.close()


def test_couriers_progress_appears_as_scans_arrive(web: Browsing, demo: Demo) -> None:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    box = demo.call("admin", "GET", "/items?kind=specimen_box&state=available&site=T02&limit=1")[0]
    clinic, courier = demo.badge("clinic02"), demo.badge("courier3")
    demo.scans(
        "T02",
        scan("prepare", box["barcode"], clinic, specimen_type="serum", count=2),
        scan("seal", box["barcode"], clinic, seal="S-WEB-1"),
    )
    stops = [
        {"site": "T02", "pickups": [box["barcode"]]},
        {"site": "LAB", "drops": [box["barcode"]]},
    ]
    trip = demo.call(
        "dispatcher", "POST", "/trips", {"courier": courier, "day": today, "stops": stops}, 201
    )["barcode"]
    web.login("dispatcher")
    web.goto("/dispatch")
    row = web.page.locator(f"#trip-table tr[data-trip='{trip}']")
    assert (row.get_attribute("data-done"), row.get_attribute("data-total")) == ("0", "2")
    web.page.wait_for_selector("#map[data-routes='1']")
    demo.scans("T02", scan("pickup", box["barcode"], courier, counterparty=clinic))
    web.page.wait_for_selector(f"#trip-table tr[data-trip='{trip}'][data-done='1']", timeout=12_000)
    assert "取件" in row.inner_text()  # the courier's last scan, shown as it arrived


def test_a_device_token_is_shown_once(web: Browsing, demo: Demo) -> None:
    web.login("admin")
    web.goto("/admin")
    form = web.page.locator("#add-device")
    form.locator("input[name=name]").fill("T05 新扫码台")
    form.locator("select[name=site]").select_option("T05")
    form.locator("button[type=submit]").click()
    token = web.page.locator("#device-token").inner_text().strip()
    assert token.startswith("hd_")
    answer = httpx.get(
        f"{demo.base}/api/v1/items?limit=1", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200
    web.goto("/admin")
    assert web.page.locator("#device-token").count() == 0
    assert token not in web.page.content()

    form = web.page.locator("#add-site")
    form.locator("input[name=code]").fill("T99")
    form.locator("input[name=name_zh]").fill("测试镇卫生院")
    form.locator("input[name=name_en]").fill("Test Township")
    form.locator("input[name=latitude]").fill("north")  # bad input: a clear error, no 500
    form.locator("input[name=longitude]").fill("115.1")
    form.locator("button[type=submit]").click()
    web.page.wait_for_selector("#flash .msg.bad")
    assert "latitude" in _text(web, "#flash")


PAGES = [
    (None, ["login"]),
    ("lab1", ["timeline", "lab"]),
    ("cssd1", ["cssd", "recall"]),
    ("dispatcher", ["dispatch", "route-sheets"]),
    ("admin", ["admin"]),
]
PATHS = {
    "login": "/login",
    "timeline": "/timeline?code={box}",
    "cssd": "/cssd",
    "recall": "/cssd/recalls/{recall}",
    "lab": "/lab?day={day}",
    "dispatch": "/dispatch?day={day}",
    "route-sheets": "/dispatch/sheets?day={day}",
    "admin": "/admin",
}
ON_TABLET = {"timeline", "cssd", "lab", "dispatch"}  # the boards people carry around
VIEWPORTS = (("", {"width": 1366, "height": 768}), ("-tablet", {"width": 820, "height": 1180}))


def test_every_page_asks_only_127_0_0_1_and_is_saved_as_a_screenshot(
    browser: Any, demo: Demo
) -> None:
    values = {
        "day": demo.day,
        "recall": _recall_number(demo),
        "box": demo.call("admin", "GET", "/items?kind=specimen_box&limit=1")[0]["barcode"],
    }
    seen: list[str] = []
    for user, names in PAGES:
        browsing = open_browsing(browser, demo.base)
        try:
            if user:
                browsing.login(user)
            for name in names:
                for suffix, viewport in VIEWPORTS if name in ON_TABLET else VIEWPORTS[:1]:
                    browsing.page.set_viewport_size(viewport)
                    response = browsing.goto(PATHS[name].format(**values))
                    assert response is not None and response.status == 200, name
                    if name == "dispatch":
                        browsing.page.wait_for_selector("#map[data-routes]")
                    width = browsing.page.evaluate("document.documentElement.scrollWidth")
                    assert width <= viewport["width"], f"{name}{suffix} scrolls sideways: {width}px"
                    assert browsing.screenshot(name + suffix).stat().st_size > 5000
            assert browsing.console_errors == [], (user, browsing.console_errors)
            seen.extend(browsing.requests)
        finally:
            browsing.context.close()
    assert any("/static/vendor/htmx/htmx.min.js" in url for url in seen)
    assert any("/static/vendor/leaflet/leaflet.js" in url for url in seen)
    outside = [url for url in seen if urlsplit(url).hostname != "127.0.0.1"]
    assert outside == []


def _recall_number(demo: Demo) -> str:
    packs = demo.call("admin", "GET", "/items?kind=pack&state=recalled&limit=1")
    events = demo.call("admin", "GET", f"/items/{packs[0]['barcode']}/custody")["events"]
    return str(next(e["details"]["recall"] for e in events if e["type"] == "recall"))
