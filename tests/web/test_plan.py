"""The plan button: a real solve in the background, its progress, its routes on the map."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.web.conftest import Browsing, Demo, scan


def test_run_a_plan_and_see_its_routes(web: Browsing, demo: Demo) -> None:
    # Tomorrow, so the test does not depend on whether today's shift has ended; tissue in
    # formalin keeps 72 h, so these boxes can still be planned then.
    tomorrow = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)).isoformat()
    ready = []
    for number in ("03", "05", "07"):
        site, clinic = f"T{number}", demo.badge(f"clinic{number}")
        box = demo.call(
            "admin", "GET", f"/items?kind=specimen_box&state=available&site={site}&limit=1"
        )[0]["barcode"]
        demo.scans(
            site,
            scan("prepare", box, clinic, specimen_type="tissue_formalin", count=3),
            scan("seal", box, clinic, seal=f"S-PLAN-{number}"),
        )
        ready.append(box)
    web.login("dispatcher")
    web.goto(f"/dispatch?day={tomorrow}")
    assert web.page.locator("#trip-table tr[data-trip]").count() == 0
    web.page.select_option("#plan-form select[name=seconds]", "2")
    web.page.click("#plan-button")
    web.page.wait_for_selector("#plan-progress")  # live progress while the solver searches
    done = web.page.wait_for_selector("#plan-progress[data-status=done]", timeout=40_000)
    assert done is not None
    routes = int(done.get_attribute("data-routes") or 0)
    plan = demo.call("dispatcher", "GET", f"/plans?day={tomorrow}")[0]
    assert routes >= 1, (plan["unserved"], plan["stats"], plan["error"])
    # The plan's trips and manifests appear on the board and its routes on the map.
    web.page.wait_for_selector("#trip-table tr[data-trip]", timeout=10_000)
    table = web.page.locator("#trip-table").inner_text()
    sites_in_plan = web.page.locator("#plan-routes").inner_text()
    for number in ("03", "05", "07"):
        assert f"T{number}" in sites_in_plan and f"T{number}" in table, plan["unserved"]
    # A planned trip has no vehicle plate yet: its row names courier and trip, no dangling "·".
    who = web.page.locator("#trip-table tr[data-trip] td").first.inner_text()
    assert who.splitlines()[-1].strip() in plan["trips"] and "·" not in who, who
    web.page.wait_for_selector(f"#map[data-routes='{routes}']", timeout=10_000)
    assert web.page.locator("#map path.route-line").count() == routes
    trips = demo.call("dispatcher", "GET", f"/plans?day={tomorrow}")[0]["trips"]
    assert len(trips) == routes
    manifest = demo.call("dispatcher", "GET", f"/trips/{trips[0]}")
    assert any(line["item"] in ready for stop in manifest["stops"] for line in stop["lines"])
    web.screenshot("dispatch-plan")
    web.page.reload()  # the day's plan stays on the board
    assert web.page.locator("#plan-progress").get_attribute("data-status") == "done"
