"""Scanner inputs, each a small class behind the ScanSource protocol."""

from __future__ import annotations

from collections.abc import Callable

from scanner_agent.config import CameraInput, HidInput, InputConfig, SerialInput, StdinInput
from scanner_agent.inputs.base import Emit, Scan, ScanSource

__all__ = ["Emit", "Scan", "ScanSource", "build_source"]


def build_source(config: InputConfig, on_status: Callable[[str], None]) -> ScanSource:
    """Make the input that ``config`` describes (device opened only when it runs)."""
    if isinstance(config, SerialInput):
        from scanner_agent.inputs.serial_port import SerialScanner

        return SerialScanner(config, on_status=on_status)
    if isinstance(config, HidInput):
        from scanner_agent.inputs.hid import HidScanner

        return HidScanner(config, on_status=on_status)
    if isinstance(config, CameraInput):
        from scanner_agent.inputs.camera import CameraScanner

        return CameraScanner(config, on_status=on_status)
    assert isinstance(config, StdinInput)
    from scanner_agent.inputs.stdin import StdinScanner

    return StdinScanner(config)
