"""Serial framing: codes come out exactly as sent; bad frames come out marked, never fixed."""

from __future__ import annotations

import pytest

from scanner_agent.config import Framing
from scanner_agent.inputs.framing import FrameParser

CODE = "BX0000001C8"


def _feed_in_chunks(parser: FrameParser, data: bytes, size: int) -> list[tuple[str, str | None]]:
    out = []
    for start in range(0, len(data), size):
        out += [(f.text, f.problem) for f in parser.feed(data[start : start + size])]
    return out


@pytest.mark.parametrize(
    ("framing", "stream"),
    [
        (Framing.CR, b"A1\rB2\r"),
        (Framing.LF, b"A1\nB2\n"),
        (Framing.CRLF, b"A1\r\nB2\r\n"),
        (Framing.EOL, b"A1\r\nB2\n"),
        (Framing.EOL, b"A1\rB2\r\n"),
        (Framing.STX_ETX, b"\x02A1\x03\r\n\x02B2\x03"),
    ],
)
@pytest.mark.parametrize("chunk", [1, 3, 7, 100])
def test_each_framing_splits_codes_whatever_the_chunks(
    framing: Framing, stream: bytes, chunk: int
) -> None:
    assert _feed_in_chunks(FrameParser(framing), stream, chunk) == [("A1", None), ("B2", None)]


def test_crlf_keeps_a_lone_cr_inside_the_code_and_marks_it() -> None:
    frames = FrameParser(Framing.CRLF).feed(b"A\rB\r\n")
    assert [(f.text, f.problem is not None) for f in frames] == [("A\rB", True)]


def test_gs1_separator_is_kept_and_aim_prefix_is_not_stripped() -> None:
    frames = FrameParser(Framing.CR).feed(b"]C10109501101530003\x1d21SN1\r")
    assert [(f.text, f.problem) for f in frames] == [("]C10109501101530003\x1d21SN1", None)]


def test_prefix_and_suffix_are_removed_and_required() -> None:
    parser = FrameParser(Framing.LF, prefix="PFX:", suffix=":SFX")
    frames = parser.feed(f"PFX:{CODE}:SFX\n{CODE}:SFX\n".encode())
    assert frames[0].text == CODE and frames[0].problem is None
    assert frames[1].problem == "frame does not start with prefix b'PFX:'"


def test_overlong_noise_is_one_marked_frame() -> None:
    parser = FrameParser(Framing.CR, max_length=16)
    frames = parser.feed(b"x" * 100 + b"\r" + CODE.encode() + b"\r")
    assert [f.problem for f in frames] == ["frame longer than 16 bytes (noise?)", None]
    assert frames[1].text == CODE


def test_unprintable_bytes_are_reported_with_their_position() -> None:
    (frame,) = FrameParser(Framing.CR).feed(b"BX\x00\xff1\r")
    assert frame.problem == "byte 0x00 at position 3 is not printable"
    assert frame.raw == b"BX\x00\xff1"


def test_stx_etx_reports_cut_off_frames_and_strays() -> None:
    parser = FrameParser(Framing.STX_ETX)
    frames = parser.feed(b"\x02BX12\x02" + CODE.encode() + b"\x03junk\x03")
    assert [(f.text, f.problem) for f in frames] == [
        ("BX12", "frame cut off: a new STX came first"),
        (CODE, None),
        ("junk", "frame without its start (STX): cut off or noise"),
    ]


def test_flush_returns_the_unterminated_rest() -> None:
    parser = FrameParser(Framing.CR)
    assert parser.feed(b"BX000") == []
    assert parser.pending() == b"BX000"
    (frame,) = parser.flush()
    assert (frame.text, frame.problem) == ("BX000", "frame cut off: no terminator came")
    assert parser.flush() == []


def test_empty_lines_are_not_scans() -> None:
    assert FrameParser(Framing.EOL).feed(b"\r\n\r\n\n") == []
