"""A CSSD station as a process: a pty scanner, a TCP capture printer and a real server process.

CSSD steps are calls to the server's CSSD API, made online with the CSSD device's token and
the operator's badge: a set goes from receipt to dispatch through the station, and the pack
label printed is the server's pack record. Refusals come back in the server's words; without
the server nothing is recorded; a call cut off by a crash is reported, not made again.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from labels.decode import decode
from labels.escpos_render import interpret
from labels.layouts import RECEIPT_58, Language, PackLabel, render
from scanner_agent.outbox import Outbox
from tests.agent.support import AgentProcess, CapturePrinter, PtyScanner, answer_to, write_config
from tests.server.test_cssd import TEMPLATE
from tests.support.helpers import PASSWORD, World, scan
from tests.support.server import free_port, running_server


@dataclass
class Floor:
    """The CSSD as the API sees it: a person's client, machines, one used set arrived."""

    api: httpx.Client
    world: World
    washer: str
    sterilizer: str
    tray: str

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.api.request(method, f"/api/v1/cssd{path}", json=body)
        assert response.status_code == expect, response.text
        return response.json()

    def new_used_set(self) -> str:
        """A set of the template, back from T01 with the courier (not yet received)."""
        tray = str(
            self.call("POST", "/sets", {"template": "DRESS", "home_site": "T01"}, 201)["barcode"]
        )
        staff, courier = self.world.badges["clinic_staff"], self.world.badges["courier"]
        events = [
            scan("return_used", tray, actor=staff),
            scan("collect", tray, actor=courier, counterparty=staff),
        ]
        answer = self.api.post(
            "/api/v1/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {self.world.device_tokens['T01']}"},
        ).json()
        assert [r["status"] for r in answer["results"]] == ["accepted", "accepted"]
        return tray


@pytest.fixture
def floor(world: World, database_url: str) -> Iterator[Floor]:
    with running_server(database_url) as url, httpx.Client(base_url=url, timeout=30) as api:
        token = api.post(
            "/api/v1/auth/token", data={"username": "cssd_staff", "password": PASSWORD}
        ).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        built = Floor(api, world, "", "", "")
        built.call("POST", "/templates", TEMPLATE, 201)
        washer = {"code": "WD1", "name": "清洗机1", "kind": "washer", "site": "CSSD"}
        sterilizer = {
            "code": "ST1", "name": "灭菌器1", "kind": "sterilizer", "site": "CSSD",
            "method": "steam", "prevacuum": True,
        }  # fmt: skip
        built.washer = built.call("POST", "/machines", washer, 201)["barcode"]
        built.sterilizer = built.call("POST", "/machines", sterilizer, 201)["barcode"]
        built.call("POST", "/machines/ST1/tests", {"kind": "bowie_dick", "passed": True}, 201)
        built.tray = built.new_used_set()
        yield built


def _config(tmp_path: Path, url: str, floor: Floor, scanner: PtyScanner, printer: str) -> Path:
    return write_config(
        tmp_path / "agent.toml",
        site="CSSD",
        server_url=url,
        device_token=floor.world.device_tokens["CSSD"],
        outbox=str(tmp_path / "outbox.db"),
        language="en",
        backoff_seconds=0.05,
        station={"mode": "cssd", "destination": "T01", "wash_program": "standard"},
        inputs=[{"kind": "serial", "port": scanner.path, "framing": "cr"}],
        printer={"url": printer, "refusal": "beep"},
    )


def _agent(config: Path) -> AgentProcess:
    agent = AgentProcess(config).start()
    agent.wait_seen(r"reading /dev/")
    return agent


def _say(agent: AgentProcess, scanner: PtyScanner, code: str, mark: str = "✓") -> str:
    """Scan ``code``; return the station's line about it, which must carry ``mark``."""
    said, line = answer_to(agent, scanner, code, timeout=20)
    assert said == mark, line
    return line


def _id(line: str, prefix: str) -> str:
    found = re.search(rf"\b({prefix}[0-9A-Z]{{9}})\b", line)
    assert found is not None, line
    return found.group(1)


def test_a_set_from_receipt_to_dispatch_through_the_station(
    tmp_path: Path, floor: Floor, pty_scanner: PtyScanner, capture_printer: CapturePrinter
) -> None:
    staff, tray = floor.world.badges["cssd_staff"], floor.tray
    agent = _agent(
        _config(tmp_path, str(floor.api.base_url), floor, pty_scanner, capture_printer.url)
    )
    _say(agent, pty_scanner, staff, "→")
    assert f"received {tray}: received_decon" in _say(agent, pty_scanner, tray)
    _say(agent, pty_scanner, "STEP:WASH", "⚙")
    _say(agent, pty_scanner, tray, "+")
    cycle = _id(_say(agent, pty_scanner, floor.washer), "CY")
    card = interpret(capture_printer.job(), RECEIPT_58.width_dots)
    assert [read.text for read in decode(card.image)] == [cycle]  # the card scanned next
    _say(agent, pty_scanner, "STEP:WASHED", "⚙")
    assert "passed: 1 set(s) washed" in _say(agent, pty_scanner, cycle)
    _say(agent, pty_scanner, "STEP:INSPECT", "⚙")
    assert f"inspected {tray}: inspected" in _say(agent, pty_scanner, tray)
    _say(agent, pty_scanner, "STEP:PACK", "⚙")
    _say(agent, pty_scanner, tray, "+")
    pack = _id(_say(agent, pty_scanner, floor.world.badges["cssd2"]), "PK")

    # The label is the server's pack record: decoded back, drawn from that record alone.
    record = floor.call("GET", f"/packs/{pack}")
    printout = interpret(capture_printer.job(), RECEIPT_58.width_dots)
    assert [read.text for read in decode(printout.image)] == [pack]
    expires = date.fromisoformat(record["expires_on"])
    packed_on = datetime.fromisoformat(record["packed_at"]).astimezone().date()

    def drawn(expiry: date) -> tuple[bytes, bytes]:
        label = PackLabel(
            pack, record["set_name_en"], staff, "—", "—", packed_on, expiry, "T01",
            record["packaging_material"],
        )  # fmt: skip
        image = render(label, RECEIPT_58, Language.EN).convert("1")
        return printout.image.convert("1").crop((0, 0, *image.size)).tobytes(), image.tobytes()

    printed, expected = drawn(expires)
    assert printed == expected
    assert drawn(expires + timedelta(days=1))[1] != printed  # the comparison sees the expiry

    _say(agent, pty_scanner, "STEP:LOAD", "⚙")
    load = _id(_say(agent, pty_scanner, floor.sterilizer), "CY")
    card = interpret(capture_printer.job(), RECEIPT_58.width_dots)
    assert [read.text for read in decode(card.image)] == [load]
    assert "in load ST1-" in _say(agent, pty_scanner, pack)
    assert "started: 1 pack(s)" in _say(agent, pty_scanner, "CMD:START")
    floor.call(
        "POST", f"/loads/{load}/finish",
        {"passed": True, "temperature_c": 134.1, "pressure_kpa": 210, "hold_minutes": 4},
    )  # fmt: skip
    _say(agent, pty_scanner, "STEP:UNLOAD", "⚙")
    _say(agent, pty_scanner, load, "+")
    assert "unloaded: unloaded" in _say(agent, pty_scanner, "CI:PASS")
    _say(agent, pty_scanner, "STEP:RELEASE", "⚙")
    assert "released: 1 pack(s)" in _say(agent, pty_scanner, load)
    _say(agent, pty_scanner, "STEP:STORE", "⚙")
    assert "stored 1 pack(s)" in _say(agent, pty_scanner, pack)
    _say(agent, pty_scanner, "STEP:DISPATCH", "⚙")
    _say(agent, pty_scanner, pack, "+")
    courier = floor.world.badges["courier"]
    assert f"1 pack(s) dispatched to T01 with {courier}" in _say(agent, pty_scanner, courier)
    # A torn label: printed again from the server's record, the reprint counted there.
    _say(agent, pty_scanner, "STEP:REPRINT", "⚙")
    assert f"label of {pack} printing again (reprint 1)" in _say(agent, pty_scanner, pack)
    again = interpret(capture_printer.job(), RECEIPT_58.width_dots)
    assert [read.text for read in decode(again.image)] == [pack]
    assert agent.stop() == 0
    assert "Traceback" not in "\n".join(agent.log)

    dispatched = floor.call("GET", f"/packs/{pack}")
    assert dispatched["state"] == "in_transit_clean" and dispatched["label_prints"] == 1
    assert dispatched["expires_on"] == record["expires_on"]  # released the day it was packed
    chain = floor.api.get(f"/api/v1/items/{pack}/custody").json()
    by_station = [e for e in chain["events"] if e["type"] != "registered"]
    assert [e["type"] for e in by_station] == [
        "load", "sterilize_start", "sterilize_end", "quarantine", "release", "store", "dispatch",
    ]  # fmt: skip
    device = floor.world.devices["CSSD"]
    assert {e["actor"]["badge"] for e in by_station} == {staff}
    assert {e["device"] for e in by_station if e["type"] != "sterilize_end"} == {device}
    assert chain["intact"]
    outbox = Outbox(tmp_path / "outbox.db")
    calls, events = outbox.calls(), outbox.events()
    outbox.close()
    assert events == []  # CSSD steps are API calls, not offline events
    assert [c["status"] for c in calls] == ["done"] * len(calls) and len(calls) == 13
    assert {c["badge"] for c in calls} == {staff}


def _packed_in_an_open_load(floor: Floor) -> str:
    """A new pack, already in a load being built (through the API)."""
    tray = floor.new_used_set()
    floor.call("POST", "/receipts", {"set": tray})
    wash = {"washer": "WD1", "program": "p", "sets": [tray]}
    floor.call(
        "POST",
        f"/washes/{floor.call('POST', '/washes', wash, 201)['number']}/finish",
        {"passed": True},
    )
    floor.call("POST", f"/sets/{tray}/inspection", {"passed": True})
    checker = floor.world.badges["cssd2"]
    pack = str(floor.call("POST", "/packs", {"set": tray, "checker": checker}, 201)["barcode"])
    load = floor.call("POST", "/loads", {"sterilizer": "ST1", "program": "p"}, 201)["number"]
    floor.call("POST", f"/loads/{load}/packs", {"pack": pack})
    return pack


class BlackHole:
    """A server that takes the request and never answers (the agent is killed meanwhile)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if conn.recv(65536):
                self.received.set()

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()


def test_server_down_a_cut_off_call_and_refusals_in_the_server_s_words(
    tmp_path: Path, floor: Floor, pty_scanner: PtyScanner, capture_printer: CapturePrinter
) -> None:
    tray, staff = floor.tray, floor.world.badges["cssd_staff"]
    floor.call("POST", "/receipts", {"set": tray})
    pack = _packed_in_an_open_load(floor)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    agent = _agent(_config(tmp_path, down, floor, pty_scanner, capture_printer.url))
    _say(agent, pty_scanner, staff, "→")
    _say(agent, pty_scanner, "STEP:WASH", "⚙")
    _say(agent, pty_scanner, tray, "+")
    line = _say(agent, pty_scanner, floor.washer, "✗")
    assert "CSSD steps need the server; nothing was recorded — scan again when it is back" in line
    assert agent.stop() == 0
    assert floor.call("GET", f"/sets/{tray}")["state"] == "received_decon"  # nothing half-done

    hole = BlackHole()
    try:
        agent = _agent(_config(tmp_path, hole.url, floor, pty_scanner, capture_printer.url))
        pty_scanner.send(floor.washer.encode() + b"\r")  # the set is still on the list
        assert hole.received.wait(15), agent.log[-10:]
        agent.kill()  # between the local commit and the server's answer
    finally:
        hole.close()

    agent = _agent(
        _config(tmp_path, str(floor.api.base_url), floor, pty_scanner, capture_printer.url)
    )
    report = agent.wait_for(r"interrupted: wash 1 set\(s\) in MC")
    assert "it may have been recorded: check on the server before scanning again" in report
    assert "POST /api/v1/cssd/washes" in report and staff in report
    assert "running: 1 set(s)" in _say(agent, pty_scanner, floor.washer)  # checked: scan again

    # Refusals come back in the server's words, and leave nothing behind.
    _say(agent, pty_scanner, staff, "←")
    clinic = floor.world.badges["clinic_staff"]  # works at T01, not at the CSSD
    _say(agent, pty_scanner, clinic, "→")
    _say(agent, pty_scanner, "STEP:RECEIVE", "⚙")
    other = floor.new_used_set()
    wrong_site = _say(agent, pty_scanner, other, "✗")
    assert f"receive {other}: the server refuses:" in wrong_site
    assert f"({clinic}) does not work at CSSD" in wrong_site
    _say(agent, pty_scanner, clinic, "←")
    _say(agent, pty_scanner, staff, "→")
    _say(agent, pty_scanner, "STEP:LOAD", "⚙")
    second = _id(_say(agent, pty_scanner, floor.sterilizer), "CY")
    refused = _say(agent, pty_scanner, pack, "✗")  # it is in another open load
    again = floor.api.post(f"/api/v1/cssd/loads/{second}/packs", json={"pack": pack})
    assert again.status_code == 409
    assert f"load {pack} into {second}: the server refuses: {again.json()['detail']}" in refused
    assert agent.stop() == 0

    assert floor.call("GET", f"/sets/{tray}")["state"] == "washing"
    assert floor.call("GET", f"/sets/{other}")["state"] == "in_transit_dirty"  # not received
    assert floor.call("GET", f"/loads/{second}")["items"] == []
    # Refusals sound the buzzer. The cycle card printed when the second load opened may come
    # first: under load the first agent can stop before its printer worker sent its beep.
    beep = bytes.fromhex("1b42020a")
    printed = [capture_printer.job()]
    while beep not in printed and len(printed) < 4:
        printed.append(capture_printer.job())
    assert beep in printed
    outbox = Outbox(tmp_path / "outbox.db")
    calls = outbox.calls()
    outbox.close()
    assert [(c["status"], c["http_status"]) for c in calls] == [
        ("unreachable", None), ("interrupted", None), ("done", 201),
        ("refused", 403), ("done", 201), ("refused", 409),
    ]  # fmt: skip
