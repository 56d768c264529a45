"""Read Code 128 (and, when asked, QR) from camera frames and images.

pyzbar does the decoding; OpenCV and numpy prepare what it sees. For Code 128 the ladder is:

1. Locate bar-code-like regions with the gradient structure tensor on 8 x 8 cells: bars give
   strong gradients that all point one way, noise and text do not. This also gives the angle.
2. Straighten each region with one affine warp and average its rows into a 1-D profile. The
   averaging removes most of the noise, and refining the angle by cross-correlating the top and
   bottom thirds keeps the bars from smearing.
3. Try cheap-first variants of the profile, each drawn as a clean synthetic strip for zbar:
   the plain profile; Wiener deconvolution for blur (a few widths); a mass-preserving edge
   placement for modules of about one pixel; a local threshold for uneven light. Then the same
   for the top and the bottom half of the rows (perspective).
4. If no region reads, run zbar on the whole frame.

A result counts only if it is a Handoff ID with a valid check character, valid GS1 data, or
(when the caller passes ``accept_other``) some other text the caller vouches for. Text shaped
like a Handoff ID (a known prefix, 11 characters of the ID alphabet) with a bad check character
is never a read, whatever the caller accepts; the ladder goes on to the next variant instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image
from pyzbar import pyzbar

from labels.gs1 import Gs1Data, Gs1Error, looks_like_gs1, parse_gs1
from labels.identity import (
    ALPHABET,
    ID_LENGTH,
    PREFIX_LENGTH,
    InvalidId,
    ParsedId,
    kind_of_prefix,
    parse_id,
)

__all__ = ["Acceptor", "Content", "Frame", "Read", "Symbology", "classify", "decode"]

FloatArray = npt.NDArray[np.float32]
U8Array = npt.NDArray[np.uint8]
Frame = npt.NDArray[np.uint8] | Image.Image
Acceptor = Callable[[str], bool] | None

_CELL: Final = 8
_MARGIN: Final = 24  # pixels added at each end of a region, for the quiet zones
_MAX_CANDIDATES: Final = 3
_STRIP_ROWS: Final = 6
_UPSAMPLE: Final = 8
_WIENER_SIGMAS: Final = (0.8, 1.2, 1.6, 2.0)
_WIENER_NOISE: Final = 0.003


class Symbology(StrEnum):
    """Symbologies decode() looks for."""

    CODE128 = "CODE128"
    QRCODE = "QRCODE"


class Content(StrEnum):
    """What a read's text is."""

    HANDOFF_ID = "handoff_id"
    GS1 = "gs1"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Read:
    """One accepted symbol. ``method`` names the rung of the ladder that read it."""

    symbology: Symbology
    text: str
    content: Content
    handoff_id: ParsedId | None = None
    gs1: Gs1Data | None = None
    method: str = ""


def _looks_like_handoff(text: str) -> bool:
    """A known prefix, eleven characters, all from the ID alphabet: it must pass the check."""
    return (
        len(text) == ID_LENGTH
        and kind_of_prefix(text[:PREFIX_LENGTH]) is not None
        and all(c in ALPHABET for c in text)
    )


def classify(
    text: str,
    symbology: Symbology = Symbology.CODE128,
    accept_other: Acceptor = None,
    method: str = "",
) -> Read | None:
    """Return ``text`` as a Read if it is acceptable, else None (it is then not a read)."""
    if _looks_like_handoff(text):
        try:
            parsed = parse_id(text)
        except InvalidId:
            return None
        return Read(symbology, text, Content.HANDOFF_ID, handoff_id=parsed, method=method)
    if looks_like_gs1(text):
        try:
            data = parse_gs1(text)
        except Gs1Error:
            return None
        return Read(symbology, text, Content.GS1, gs1=data, method=method)
    if accept_other is not None and accept_other(text):
        return Read(symbology, text, Content.OTHER, method=method)
    return None


def _gray(frame: Frame) -> U8Array:
    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("L"), dtype=np.uint8)
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        raise TypeError(f"frames must be 8-bit images, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 3:
        return np.asarray(cv2.cvtColor(array, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    if array.ndim == 3 and array.shape[2] == 4:
        return np.asarray(cv2.cvtColor(array, cv2.COLOR_BGRA2GRAY), dtype=np.uint8)
    if array.ndim != 2:
        raise TypeError(f"frames must be grey, BGR or BGRA images, got shape {array.shape}")
    return np.ascontiguousarray(array)


@dataclass(frozen=True, slots=True)
class _Region:
    center: tuple[float, float]
    theta: float  # direction across the bars (along the symbol), radians
    length: float
    height: float


def _locate(gray: U8Array) -> list[_Region]:
    """Return up to three regions whose gradients are strong and all point one way."""
    h, w = gray.shape
    if h < 2 * _CELL or w < 2 * _CELL:
        return []
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    size = (w // _CELL, h // _CELL)
    # Averaging the tensor over cells (INTER_AREA is a box filter) is what makes noise cancel.
    jxx = cv2.blur(cv2.resize(gx * gx, size, interpolation=cv2.INTER_AREA), (3, 3))
    jyy = cv2.blur(cv2.resize(gy * gy, size, interpolation=cv2.INTER_AREA), (3, 3))
    jxy = cv2.blur(cv2.resize(gx * gy, size, interpolation=cv2.INTER_AREA), (3, 3))
    anisotropy = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2)
    coherence = anisotropy / (jxx + jyy + 1e-6)
    score = anisotropy * coherence
    peak = float(score.max())
    if peak <= 0:
        return []
    mask = ((score > 0.2 * peak) & (coherence > 0.4)).astype(np.uint8)
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    weights = np.bincount(labels.ravel(), weights=score.ravel(), minlength=count)
    regions: list[_Region] = []
    for label in np.argsort(weights[1:])[::-1][:_MAX_CANDIDATES] + 1:
        ys, xs = np.nonzero(labels == label)
        a = float(jxx[ys, xs].sum() - jyy[ys, xs].sum())
        b = float(2 * jxy[ys, xs].sum())
        theta = 0.5 * math.atan2(b, a)
        u = np.array([math.cos(theta), math.sin(theta)])
        v = np.array([-u[1], u[0]])
        points = np.stack([xs, ys], axis=1) * _CELL + _CELL / 2
        along, across = points @ u, points @ v
        length = float(along.max() - along.min()) + _CELL
        if length < 5 * _CELL:
            continue
        center = ((along.max() + along.min()) / 2) * u + ((across.max() + across.min()) / 2) * v
        height = float(across.max() - across.min()) + _CELL
        regions.append(_Region((float(center[0]), float(center[1])), theta, length, height))
    return regions


def _straighten(gray: U8Array, region: _Region, theta: float) -> FloatArray:
    """Warp the central rows of ``region`` so that its bars are vertical."""
    width = int(region.length + 2 * _MARGIN)
    height = max(int(region.height * 0.6), 4)
    c, s = math.cos(theta), math.sin(theta)
    matrix = np.array([[c, -s, 0.0], [s, c, 0.0]])
    matrix[:, 2] = np.array(region.center) - matrix[:, :2] @ np.array([width / 2, height / 2])
    warped = cv2.warpAffine(
        gray,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(warped, dtype=np.float32)


def _shift(top: FloatArray, bottom: FloatArray, reach: int = 4) -> float:
    """Return the sub-pixel shift of ``bottom`` against ``top`` (on their derivatives)."""
    a, b = np.diff(top), np.diff(bottom)
    a, b = a - a.mean(), b - b.mean()
    n = len(a)
    if n <= 2 * reach + 2:
        return 0.0
    scores = np.array(
        [float(np.dot(a[max(0, -k) : n - max(0, k)], b[max(0, k) : n - max(0, -k)])) for k in
         range(-reach, reach + 1)]
    )  # fmt: skip
    best = int(np.argmax(scores))
    shift = float(best - reach)
    if 0 < best < len(scores) - 1:
        y0, y1, y2 = scores[best - 1 : best + 2]
        curvature = y0 - 2 * y1 + y2
        if curvature != 0:
            shift += 0.5 * (y0 - y2) / curvature
    return shift


def _profiles(gray: U8Array, region: _Region) -> Iterator[tuple[str, FloatArray]]:
    """Yield row-averaged profiles across the bars, after refining the angle.

    First over all rows; then over the top and the bottom half, for when perspective makes the
    bars converge and a full-height average would smear them.
    """
    theta = region.theta
    for _ in range(2):
        crop = _straighten(gray, region, theta)
        third = crop.shape[0] // 3
        if third < 1:
            break
        shift = _shift(crop[:third].mean(axis=0), crop[-third:].mean(axis=0))
        theta -= math.atan2(shift, crop.shape[0] - third)
    crop = _straighten(gray, region, theta)
    half = crop.shape[0] // 2
    yield "", np.asarray(crop.mean(axis=0), dtype=np.float32)
    yield "top-", np.asarray(crop[:half].mean(axis=0), dtype=np.float32)
    yield "bottom-", np.asarray(crop[half:].mean(axis=0), dtype=np.float32)


def _darkness(profile: FloatArray) -> FloatArray:
    white, black = float(np.percentile(profile, 95)), float(np.percentile(profile, 3))
    return np.asarray(np.clip((white - profile) / max(white - black, 1.0), 0, 1), np.float32)


def _wiener(darkness: FloatArray, sigma: float) -> FloatArray:
    """Undo a Gaussian blur of ``sigma`` pixels (regularised, so noise is not blown up)."""
    n = len(darkness)
    size = 1 << math.ceil(math.log2(2 * n))
    padded = np.pad(darkness, (0, size - n), mode="edge")
    frequencies = np.fft.rfftfreq(size)
    gain = np.exp(-2 * (np.pi * frequencies * sigma) ** 2)
    restored = np.fft.irfft(np.fft.rfft(padded) * gain / (gain * gain + _WIENER_NOISE), size)
    return np.asarray(restored[:n], dtype=np.float32)


def _mass_preserving(darkness: FloatArray, low: float = 0.1, high: float = 0.9) -> U8Array:
    """Rebuild bars at 1/8 pixel from an area-sampled profile of modules near one pixel wide.

    A grey pixel holds exactly one edge when modules are wider than a pixel, and its darkness is
    the fraction covered; which side is dark follows from the pixel before it.
    """
    k = _UPSAMPLE
    bits = np.zeros(len(darkness) * k, dtype=np.uint8)
    dark_before = False
    for i, value in enumerate(darkness.tolist()):
        if value <= low:
            dark_before = False
        elif value >= high:
            bits[i * k : (i + 1) * k] = 1
            dark_before = True
        else:
            covered = round(value * k)
            if dark_before:
                bits[i * k : i * k + covered] = 1
            else:
                bits[(i + 1) * k - covered : (i + 1) * k] = 1
            dark_before = not dark_before
    return bits


def _threshold(signal: FloatArray, window: int = 0) -> U8Array:
    """Upsample ``signal`` linearly and cut it at 0.5, or at its local mean over ``window`` px."""
    n = len(signal)
    x = (np.arange(n * _UPSAMPLE) + 0.5) / _UPSAMPLE - 0.5
    fine = np.interp(x, np.arange(n), signal).astype(np.float32)
    if window:
        level = cv2.blur(fine.reshape(1, -1), (window * _UPSAMPLE | 1, 1)).ravel()
        return (fine > np.clip(level, 0.3, 0.7)).astype(np.uint8)
    return (fine > 0.5).astype(np.uint8)


def _strip(bits: U8Array) -> U8Array:
    """Draw bars (1 = dark) as a few identical rows with quiet zones, as zbar likes them."""
    row = np.pad((1 - bits) * 255, 5 * _UPSAMPLE, constant_values=255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(row[np.newaxis, :], _STRIP_ROWS, axis=0))


def _variants(profile: FloatArray) -> Iterator[tuple[str, U8Array]]:
    darkness = _darkness(profile)
    yield "profile", _strip(_threshold(darkness))
    for sigma in _WIENER_SIGMAS:
        yield f"deblur-{sigma}", _strip(_threshold(_wiener(darkness, sigma)))
    yield "subpixel", _strip(_mass_preserving(darkness))
    yield "local-threshold", _strip(_threshold(darkness, window=9))


def _reads(image: U8Array, symbology: Symbology, accept_other: Acceptor, method: str) -> list[Read]:
    """Run zbar for one symbology and keep only the acceptable results."""
    found = pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol[symbology.value]])
    texts = [result.data.decode("latin-1") for result in found]
    reads = [classify(text, symbology, accept_other, method) for text in texts]
    return [read for read in reads if read is not None]


def _read_region(gray: U8Array, region: _Region, accept_other: Acceptor) -> Read | None:
    """Walk the ladder for one region and stop at the first acceptable read."""
    for rows, profile in _profiles(gray, region):
        for method, strip in _variants(profile):
            found = _reads(strip, Symbology.CODE128, accept_other, rows + method)
            if found:
                return found[0]
    return None


def _code128(gray: U8Array, accept_other: Acceptor) -> list[Read]:
    reads: dict[str, Read] = {}
    for region in _locate(gray):
        read = _read_region(gray, region, accept_other)
        if read is not None:
            reads.setdefault(read.text, read)
    if not reads:
        for read in _reads(gray, Symbology.CODE128, accept_other, "frame"):
            reads.setdefault(read.text, read)
    return list(reads.values())


def _qr(gray: U8Array, accept_other: Acceptor) -> list[Read]:
    attempts: list[tuple[str, Callable[[], U8Array]]] = [
        ("frame", lambda: gray),
        ("otsu", lambda: np.asarray(cv2.threshold(gray, 0, 255, cv2.THRESH_OTSU)[1], np.uint8)),
        ("upscaled", lambda: np.asarray(cv2.resize(gray, None, fx=2, fy=2), np.uint8)),
    ]
    for method, prepare in attempts:
        found = _reads(prepare(), Symbology.QRCODE, accept_other, method)
        if found:
            return list({read.text: read for read in found}.values())
    return []


def decode(
    frame: Frame,
    *,
    symbologies: frozenset[Symbology] = frozenset({Symbology.CODE128}),
    accept_other: Acceptor = None,
) -> list[Read]:
    """Return the acceptable symbols in ``frame`` (grey, BGR or BGRA array, or a PIL image).

    Handoff IDs must have a valid check character and GS1 data must parse; other text is a read
    only if ``accept_other`` returns True for it.
    """
    gray = _gray(frame)
    reads: list[Read] = []
    if Symbology.CODE128 in symbologies:
        reads += _code128(gray, accept_other)
    if Symbology.QRCODE in symbologies:
        reads += _qr(gray, accept_other)
    return reads
