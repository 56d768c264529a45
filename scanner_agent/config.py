"""The agent's configuration: one TOML file; ``HANDOFF_AGENT_*`` variables fill in what it omits.

```toml
site = "T01"
server_url = "https://handoff.example.org"
device_token_file = "/etc/handoff/device-token"   # or device_token = "…"
outbox = "/var/lib/handoff-agent/outbox.db"
language = "zh"

[station]
mode = "lab_receipt"          # inventory | lab_receipt | clinic_dispatch | cssd | courier
# cssd: wash_program, load_program, cooling_minutes, destination (dispatch), packaging

[[inputs]]
kind = "serial"
port = "/dev/serial/by-id/usb-Honeywell_…-if00"   # or usb = "0c2e:0b61"
framing = "crlf"

[printer]
url = "tcp://192.168.1.50:9100"
refusal = "beep"
```
"""

from __future__ import annotations

import os
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from labels.printers import BadPrinterUrl, parse_printer_url

__all__ = [
    "AgentConfig",
    "CameraInput",
    "ConfigError",
    "Framing",
    "HidInput",
    "InputConfig",
    "Language",
    "PrinterConfig",
    "SerialInput",
    "StationConfig",
    "StationMode",
    "StdinInput",
    "load_config",
]

_USB_ID = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$")


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why, in one paragraph."""


class Framing(StrEnum):
    """How a serial scanner ends (or wraps) each code."""

    CR = "cr"
    LF = "lf"
    CRLF = "crlf"
    EOL = "eol"  # CR, LF or CRLF, whichever comes
    STX_ETX = "stx_etx"


class Language(StrEnum):
    """The station's language (labels.layouts.Language has the same values)."""

    ZH = "zh"
    EN = "en"


class StationMode(StrEnum):
    """What a station does with scans (see stations.py)."""

    INVENTORY = "inventory"
    LAB_RECEIPT = "lab_receipt"
    CLINIC_DISPATCH = "clinic_dispatch"
    CSSD = "cssd"
    COURIER = "courier"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SerialInput(_Strict):
    """A scanner on a serial port (USB CDC-ACM, USB-serial or RS-232)."""

    kind: Literal["serial"]
    name: str = "serial"
    port: str | None = Field(None, description="Device path, e.g. /dev/ttyACM0")
    usb: str | None = Field(None, description="USB VID:PID in hex, e.g. 0c2e:0b61")
    baud: Annotated[int, Field(ge=50, le=4_000_000)] = 9600
    framing: Framing = Framing.EOL
    prefix: str = ""
    suffix: str = ""
    max_length: Annotated[int, Field(ge=8, le=4096)] = 256

    @model_validator(mode="after")
    def _one_way_to_find_it(self) -> SerialInput:
        if (self.port is None) == (self.usb is None):
            raise ValueError("give exactly one of port (a device path) or usb (VID:PID)")
        if self.usb is not None and not _USB_ID.match(self.usb):
            raise ValueError(f"usb {self.usb!r} is not VID:PID with 4 hex digits each")
        return self


class HidInput(_Strict):
    """A keyboard-wedge scanner read through evdev (grabbed, so keys reach nothing else)."""

    kind: Literal["hid"]
    name: str = "hid"
    device: str | None = Field(None, description="/dev/input/by-id/… or /dev/input/eventN")
    usb: str | None = Field(None, description="USB VID:PID in hex")
    layout: Literal["us", "de", "fr"] = "us"
    max_key_interval_ms: Annotated[float, Field(gt=0, le=1000)] = 35.0

    @model_validator(mode="after")
    def _one_way_to_find_it(self) -> HidInput:
        if (self.device is None) == (self.usb is None):
            raise ValueError("give exactly one of device (a path) or usb (VID:PID)")
        if self.usb is not None and not _USB_ID.match(self.usb):
            raise ValueError(f"usb {self.usb!r} is not VID:PID with 4 hex digits each")
        return self


class CameraInput(_Strict):
    """A camera (or a video file / image sequence) decoded with labels.decode."""

    kind: Literal["camera"]
    name: str = "camera"
    source: str = Field("0", description="Camera index (0), device path or video file")
    debounce_seconds: Annotated[float, Field(ge=0, le=600)] = 3.0
    fps: Annotated[float, Field(gt=0, le=120)] = 10.0


class StdinInput(_Strict):
    """One code per line on standard input (a person typing, or a pipe)."""

    kind: Literal["stdin"]
    name: str = "stdin"
    typed: bool = Field(True, description="Lines are typed by a person (tidied before checking)")


InputConfig = Annotated[
    SerialInput | HidInput | CameraInput | StdinInput, Field(discriminator="kind")
]


class PrinterConfig(_Strict):
    """The station's ESC/POS printer."""

    url: str
    media: str = "58mm"
    refusal: Literal["none", "beep", "slip"] = "beep"
    beep: str = Field("1b42020a", description="Hex bytes of the buzzer command (ESC B 2 10)")
    jobs: Path | None = Field(None, description="Where print jobs are kept (default: by outbox)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parse_printer_url(value)
        except BadPrinterUrl as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("media")
    @classmethod
    def _media(cls, value: str) -> str:
        if value not in ("58mm", "80mm"):
            raise ValueError(f"media {value!r}: use 58mm or 80mm (roll printers)")
        return value

    @field_validator("beep")
    @classmethod
    def _beep(cls, value: str) -> str:
        try:
            bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"beep {value!r} is not hex bytes like 1b42020a") from None
        return value

    def beep_bytes(self) -> bytes:
        return bytes.fromhex(self.beep)


class StationConfig(_Strict):
    """The station's workflow."""

    mode: StationMode = StationMode.INVENTORY
    step: str | None = Field(None, description="cssd: first step; courier: pickup/handoff/…")
    repeat_seconds: Annotated[float, Field(ge=0, le=3600)] = 10.0
    seal_pattern: str = r"^S-?\d{3,12}$"
    destination: str = Field(
        "", description="clinic_dispatch: where boxes go (for the label); cssd: where packs go"
    )
    temperature_class: str = "2-8°C"
    specimen_type: str | None = Field(
        None, description="clinic_dispatch: the specimen type code of the boxes sealed here"
    )
    # cssd: what the station sends with its API calls (the server computes expiry and IDs)
    packaging: str | None = Field(
        None, description="cssd pack: packaging material, if not the set template's"
    )
    wash_program: str = Field("standard", min_length=1, max_length=64)
    load_program: str = Field("134°C 4 min", min_length=1, max_length=64)
    cooling_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 30
    server_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0

    @field_validator("seal_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"seal_pattern is not a regular expression: {error}") from None
        return value


class AgentConfig(BaseSettings):
    """Everything one agent needs; see the module docstring for a sample file."""

    model_config = SettingsConfigDict(
        env_prefix="HANDOFF_AGENT_", extra="forbid", frozen=True, env_nested_delimiter="__"
    )

    site: str = Field(min_length=1, description="Site code or barcode this PC stands at")
    server_url: str = Field(description="Base URL of the Handoff server")
    device_token: str | None = None
    device_token_file: Path | None = None
    outbox: Path = Path("/var/lib/handoff-agent/outbox.db")
    language: Language = Language.ZH
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 1000
    backoff_seconds: Annotated[float, Field(gt=0, le=60)] = 0.5
    backoff_max_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    request_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    min_free_mb: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        64, description="Below this much free space on the outbox's disk, scans are refused"
    )
    station: StationConfig = StationConfig()
    inputs: list[InputConfig] = Field(default_factory=list)
    printer: PrinterConfig | None = None

    @field_validator("server_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _token(self) -> AgentConfig:
        if self.device_token is None and self.device_token_file is None:
            raise ValueError("set device_token_file (preferred) or device_token")
        if not self.inputs:
            raise ValueError("no [[inputs]]: add at least one scanner (serial, hid, camera, stdin)")
        names = [source.name for source in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError(f"input names must differ, got {names}")
        return self

    def token(self) -> str:
        """The device token, read from its file if one is named."""
        if self.device_token is not None:
            return self.device_token.strip()
        assert self.device_token_file is not None
        try:
            text = self.device_token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"device_token_file {self.device_token_file}: {error.strerror or error}"
            ) from None
        if not text:
            raise ConfigError(f"device_token_file {self.device_token_file} is empty")
        return text

    def media(self) -> Any:
        """The printer's roll (labels.layouts.Media); imported here, as labels.layouts is slow."""
        from labels.layouts import MEDIA

        return MEDIA[self.printer.media if self.printer else "58mm"]


def _where(location: tuple[int | str, ...]) -> str:
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_config(path: Path) -> AgentConfig:
    """Read and check the agent's TOML file; raise ConfigError with one clear message."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    base = path.parent
    for key in ("outbox", "device_token_file"):
        if isinstance(data.get(key), str) and not os.path.isabs(data[key]):
            data[key] = str(base / data[key])
    try:
        return AgentConfig(**data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = _where(tuple(p for p in item["loc"] if not str(p).endswith("Input")))
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None
