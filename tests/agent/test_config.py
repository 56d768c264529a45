"""The agent's configuration file: good files load, bad ones fail in one clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scanner_agent.config import ConfigError, Framing, SerialInput, StationMode, load_config
from tests.agent.support import ROOT, write_config

GOOD = {
    "site": "T01",
    "server_url": "http://127.0.0.1:8000/",
    "device_token_file": "token.txt",
    "outbox": "var/outbox.db",
    "station": {"mode": "lab_receipt"},
    "inputs": [{"kind": "serial", "port": "/dev/ttyACM0", "framing": "crlf"}],
    "printer": {"url": "tcp://192.168.1.50:9100", "refusal": "slip"},
}


def test_a_good_file_loads_with_paths_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("secret-token\n")
    config = load_config(write_config(tmp_path / "agent.toml", **GOOD))
    assert config.server_url == "http://127.0.0.1:8000"
    assert config.outbox == tmp_path / "var" / "outbox.db"
    assert config.token() == "secret-token"
    assert config.station.mode == StationMode.LAB_RECEIPT
    (serial,) = config.inputs
    assert isinstance(serial, SerialInput) and serial.framing == Framing.CRLF


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"server_url": "ftp://x"}, "server_url: 'ftp://x' is not an http:// or https:// URL"),
        ({"inputs": []}, "no [[inputs]]: add at least one scanner"),
        (
            {"inputs": [{"kind": "serial", "port": "/dev/x", "usb": "0c2e:0b61"}]},
            "inputs[0].serial: give exactly one of port (a device path) or usb (VID:PID)",
        ),
        ({"inputs": [{"kind": "serial", "usb": "12:34"}]}, "is not VID:PID with 4 hex digits"),
        ({"inputs": [{"kind": "tape"}]}, "inputs[0]: Input tag 'tape' found using 'kind'"),
        ({"printer": {"url": "lpt1"}}, "printer.url: printer URL 'lpt1': expected scheme://"),
        ({"station": {"mode": "bakery"}}, "station.mode: Input should be 'inventory'"),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_each_mistake_is_named_with_its_place(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = write_config(tmp_path / "agent.toml", **(GOOD | change))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)


def test_several_mistakes_come_in_one_message(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "agent.toml", **(GOOD | {"server_url": "nope", "batch_size": 0, "site": ""})
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "site:" in text and "server_url:" in text and "batch_size:" in text


def test_the_documented_example_loads() -> None:
    config = load_config(ROOT / "docs" / "agent" / "agent.example.toml")
    assert config.station.mode == StationMode.CLINIC_DISPATCH
    assert config.printer is not None and config.printer.refusal == "beep"


def test_not_toml_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("site = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_the_environment_fills_in_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {k: v for k, v in GOOD.items() if k != "device_token_file"}
    monkeypatch.setenv("HANDOFF_AGENT_DEVICE_TOKEN", "from-the-environment")
    config = load_config(write_config(tmp_path / "agent.toml", **settings))
    assert config.token() == "from-the-environment"


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("\n")
    config = load_config(write_config(tmp_path / "agent.toml", **GOOD))
    with pytest.raises(ConfigError, match="is empty"):
        config.token()


def _cli(*args: str, handoff: bool = False) -> subprocess.CompletedProcess[str]:
    """``handoff agent …`` (through server.cli) or the lighter ``python -m scanner_agent …``."""
    command = ["server.cli", "agent"] if handoff else ["scanner_agent"]
    return subprocess.run(
        [sys.executable, "-m", *command, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_reports_a_bad_config_without_a_traceback(tmp_path: Path) -> None:
    path = write_config(tmp_path / "agent.toml", **(GOOD | {"server_url": "nope"}))
    result = _cli("run", "--config", str(path), handoff=True)
    assert result.returncode == 2
    assert "error:" in result.stderr and "server_url" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    missing = _cli("doctor", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_doctor_lists_devices_and_fails_on_an_unreachable_server(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("secret-token\n")
    path = write_config(
        tmp_path / "agent.toml",
        **(GOOD | {"server_url": "http://127.0.0.1:9", "printer": {"url": "tcp://127.0.0.1:9"}}),
    )
    result = _cli("doctor", "--config", str(path))
    assert result.returncode == 1, result.stdout
    for heading in ("Serial ports", "Input devices", "Cameras", "Printers", "Server"):
        assert heading in result.stdout
    assert "http://127.0.0.1:9: unreachable" in result.stdout
    assert "FAIL printer 127.0.0.1:9" in result.stdout
