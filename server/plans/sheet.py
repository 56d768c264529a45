"""Route sheets and manifests: printable HTML (one page per courier) and plain text."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from server.models import RoutePlan

TEMPLATES = Path(__file__).parent / "templates"
_environment = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"])
)


def _hhmm(value: str, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(value).astimezone(zone).strftime("%H:%M")


def sheet_context(row: RoutePlan, zone: ZoneInfo) -> dict[str, Any]:
    """What a route sheet shows, with local clock times and items described."""
    work = row.work.get("requests", {})
    sites = row.work.get("sites", {})

    def item(barcode: str) -> dict[str, Any]:
        facts = work.get(barcode, {})
        deadline = facts.get("deadline")
        return {
            "barcode": barcode,
            "what": facts.get("what", "item"),
            "from": facts.get("from") or "on board",
            "to": facts.get("to") or "",
            "due": _hhmm(deadline, zone) if deadline else "",
            "cold": bool(facts.get("cold")),
            "specimen": facts.get("specimen") or "",
        }

    def site_name(code: str) -> str:
        return str(sites.get(code, {}).get("name_en", code))

    routes = []
    for route in row.result.get("routes", []):
        stops = [
            {
                "seq": number,
                "site": stop["site"],
                "name": site_name(stop["site"]),
                "arrival": _hhmm(stop["arrival"], zone),
                "departure": _hhmm(stop["departure"], zone),
                "pickups": [item(code) for code in stop["pickups"]],
                "drops": [item(code) for code in stop["drops"]],
                "load": stop.get("load", {}),
            }
            for number, stop in enumerate(route["stops"])
        ]
        manifest = [
            {**item(code), "action": "pick up", "at": stop["site"]}
            for stop in route["stops"]
            for code in stop["pickups"]
        ] + [
            {**item(code), "action": "drop", "at": stop["site"]}
            for stop in route["stops"]
            for code in stop["drops"]
        ]
        routes.append(
            {
                **route,
                "start_clock": _hhmm(route["start"], zone),
                "end_clock": _hhmm(route["end"], zone),
                "stops": stops,
                "manifest": manifest,
                "on_board": [item(code) for code in route.get("on_board_at_start", [])],
            }
        )
    unserved = [{**item(u["item"]), "reason": u["reason"]} for u in row.result.get("unserved", [])]
    return {
        "plan": row,
        "day": row.day.isoformat(),
        "as_of": row.as_of.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "routes": routes,
        "unserved": unserved,
    }


def render_html(row: RoutePlan, zone: ZoneInfo) -> str:
    """The printable route sheets and manifests of a plan (self-contained HTML)."""
    return _environment.get_template("route_sheet.html.j2").render(**sheet_context(row, zone))


def render_text(row: RoutePlan, zone: ZoneInfo) -> str:
    """The route sheets as plain text, for a terminal."""
    context = sheet_context(row, zone)
    lines = [f"Route plan for {context['day']} (work as of {context['as_of']})"]
    if row.objective is not None:
        lines.append(
            f"{len(context['routes'])} courier(s), {row.travel_minutes:.0f} min of driving, "
            f"solved in {row.stats.get('seconds', 0):.1f} s"
        )
    for route in context["routes"]:
        lines += [
            "",
            f"== {route['name']} ({route['courier']}), trip {route.get('trip') or '-'}: "
            f"{route['start_clock']}–{route['end_clock']}, {route['travel_minutes']:.0f} min",
        ]
        if route["on_board"]:
            lines.append(
                "   on board at the start: " + ", ".join(i["barcode"] for i in route["on_board"])
            )
        for stop in route["stops"]:
            lines.append(f"{stop['seq']:>3}  {stop['arrival']}  {stop['site']:<6} {stop['name']}")
            for entry in stop["pickups"]:
                due = f" due {entry['due']}" if entry["due"] else ""
                lines.append(
                    f"       pick up {entry['barcode']}  {entry['what']} → {entry['to']}{due}"
                )
            for entry in stop["drops"]:
                lines.append(f"       drop    {entry['barcode']}  {entry['what']}")
    if context["unserved"]:
        lines += ["", "Not planned:"]
        lines += [f"  {u['barcode']}  {u['what']}: {u['reason']}" for u in context["unserved"]]
    return "\n".join(lines)
