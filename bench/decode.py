"""Camera decoding benchmark: labels.decode against plain pyzbar and zxing-cpp, one core.

Run as ``python -m bench.decode [--data DIR] [--no-write-docs]``. DIR (default: the
``HANDOFF_BENCH_DATA`` environment variable, else ``../shared/bench/decode`` next to the
repository) holds ``truth.csv`` (file, text, class, params) and ``frames/*.png``: degraded
640 x 480 frames of Code 128 labels. Every decoder sees the same frames in the same process,
pinned to one CPU with OpenCV limited to one thread; frames are loaded before timing.

A frame is decoded when a decoder returns exactly the truth text; it is a wrong read when it
returns any other text. The frames' codes carry no check character (9-13 characters from 0-9
and A-Z without I and O), so labels.decode is given that format as its ``accept_other`` rule, the
stand-in for the check character it demands of Handoff IDs. pyzbar and zxing-cpp are restricted
to Code 128 and report whatever they read. zxing-cpp is a comparison only (``pip install
'.[bench]'``); without it its row says so. The benchmark never fails on timing.
"""

from __future__ import annotations

import os

# One core means no helper threads either; these must be set before numpy is imported.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from pyzbar import pyzbar  # noqa: E402

from labels.decode import classify, decode  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "bench" / "decode"
DOCS = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- decode:start -->"
END_MARK = "<!-- decode:end -->"
DOCS_HEADER = (
    "# Benchmarks\n\nFigures in the sections below are written by the benchmarks themselves.\n"
)
TARGET_RATE = 85.0
TARGET_MS = 10.0
TRUTH_FORMAT = re.compile(r"[0-9A-HJ-NP-Z]{9,13}")

Decoder = Callable[[np.ndarray], list[str]]


@dataclass
class Sample:
    name: str
    text: str
    kind: str
    frame: np.ndarray


@dataclass
class Result:
    decoder: str
    available: bool = True
    note: str = ""
    ok: dict[str, int] = field(default_factory=dict)
    wrong: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def all_seconds(self) -> list[float]:
        return [s for values in self.seconds.values() for s in values]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load(data: Path) -> list[Sample]:
    truth = data / "truth.csv"
    if not truth.is_file():
        raise SystemExit(
            f"no {truth}; pass --data DIR or set HANDOFF_BENCH_DATA to the benchmark frames"
        )
    samples = []
    with truth.open(newline="") as handle:
        for row in csv.DictReader(handle):
            frame = cv2.imread(str(data / "frames" / row["file"]), cv2.IMREAD_GRAYSCALE)
            if frame is None:
                raise SystemExit(f"cannot read frame {row['file']} listed in {truth}")
            samples.append(Sample(row["file"], row["text"], row["class"], frame))
    return samples


def in_truth_format(text: str) -> bool:
    return TRUTH_FORMAT.fullmatch(text) is not None


def handoff_decoder(frame: np.ndarray) -> list[str]:
    return [read.text for read in decode(frame, accept_other=in_truth_format)]


def pyzbar_decoder(frame: np.ndarray) -> list[str]:
    found = pyzbar.decode(frame, symbols=[pyzbar.ZBarSymbol.CODE128])
    return [result.data.decode("latin-1") for result in found]


def zxing_decoder() -> Decoder | None:
    try:
        import zxingcpp
    except ImportError:
        return None

    code128 = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.Code128)

    def run(frame: np.ndarray) -> list[str]:
        found = zxingcpp.read_barcodes(frame, formats=code128)
        return [result.text for result in found]

    return run


def measure(name: str, decoder: Decoder, samples: Sequence[Sample]) -> Result:
    result = Result(name)
    decoder(samples[0].frame)  # warm-up: first-call allocations are not per-frame cost
    for sample in samples:
        started = time.perf_counter()
        texts = decoder(sample.frame)
        elapsed = time.perf_counter() - started
        result.seconds.setdefault(sample.kind, []).append(elapsed)
        result.ok[sample.kind] = result.ok.get(sample.kind, 0) + (sample.text in texts)
        wrong = any(text != sample.text for text in texts)
        result.wrong[sample.kind] = result.wrong.get(sample.kind, 0) + wrong
    return result


def p95(values: Sequence[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


def table(results: Sequence[Result], samples: Sequence[Sample]) -> str:
    kinds = list(dict.fromkeys(sample.kind for sample in samples))
    sizes = {kind: sum(1 for s in samples if s.kind == kind) for kind in kinds}
    header = ["decoder", *kinds, "all %", "wrong", "mean ms", "p95 ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        if not result.available:
            lines.append(f"| {result.decoder} | {result.note} |" + " |" * (len(header) - 2))
            continue
        cells = [result.decoder]
        for kind in kinds:
            rate = 100 * result.ok.get(kind, 0) / sizes[kind]
            wrong = result.wrong.get(kind, 0)
            cell = f"{rate:.0f}" + (f" ({wrong})" if wrong else "")
            cells.append(cell + f" / {1000 * statistics.fmean(result.seconds[kind]):.1f}")
        seconds = result.all_seconds()
        cells.append(f"{100 * sum(result.ok.values()) / len(samples):.1f}")
        cells.append(str(sum(result.wrong.values())))
        cells.append(f"{1000 * statistics.fmean(seconds):.2f}")
        cells.append(f"{1000 * p95(seconds):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def zbar_version() -> str:
    """The Debian zbar library pyzbar loads (pyzbar's own version says nothing about it)."""
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libzbar0"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def section(results: Sequence[Result], samples: Sequence[Sample], command: str, data: Path) -> str:
    ours = results[0]
    rate = 100 * sum(ours.ok.values()) / len(samples)
    mean_ms = 1000 * statistics.fmean(ours.all_seconds())
    wrong = sum(ours.wrong.values())
    verdict = (
        f"targets ≥ {TARGET_RATE:.0f} % decoded: **{'met' if rate >= TARGET_RATE else 'not met'}**"
        f" ({rate:.1f} %); zero wrong reads: **{'met' if wrong == 0 else 'not met'}** ({wrong}); "
        f"≤ {TARGET_MS:.0f} ms per frame: **{'met' if mean_ms <= TARGET_MS else 'not met'}** "
        f"({mean_ms:.2f} ms)"
    )
    versions = ", ".join(
        f"{name} {version(name)}"
        for name in ("pyzbar", "opencv-python-headless", "numpy", "zxing-cpp")
    )
    versions += f", libzbar0 {zbar_version()}"
    return "\n".join(
        [
            "## Camera decoding (`python -m bench.decode`)",
            "",
            f"{len(samples)} degraded 640 × 480 frames of Code 128 labels from "
            f"`{os.path.relpath(data, ROOT)}/` (`truth.csv`), "
            f"{len(samples) // max(len({s.kind for s in samples}), 1)} per class. Each cell: "
            "decoded % (wrong reads) / mean ms per frame; one process pinned to one CPU, "
            "`cv2.setNumThreads(1)`, frames loaded before timing.",
            "",
            table(results, samples),
            "",
            f"`handoff` is `labels.decode.decode`: {verdict}.",
            "",
            *rungs_note(samples),
            *refused_note(samples),
            "A frame is decoded when the exact truth text comes back and counts as a wrong read "
            "when any other text does. These codes have no check character, so `handoff` accepts "
            "a read only in their format (9–13 of 0-9, A-Z without I and O), standing in for the "
            "check character it requires of Handoff IDs; pyzbar and zxing-cpp run restricted to "
            "Code 128 with no validation. The decoder's ladder was tuned on these frames; "
            "`tests/labels/test_label_decode.py` checks it on separately rendered Handoff labels.",
            "",
            f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpu_model()}; Python "
            f"{platform.python_version()}, {versions}. Command: `{command}`.",
        ]
    )


def rungs_note(samples: Sequence[Sample]) -> list[str]:
    """Which rung of the ladder produced each correct read (an untimed second pass)."""
    counts: dict[str, int] = {}
    for sample in samples:
        for read in decode(sample.frame, accept_other=in_truth_format):
            if read.text == sample.text:
                counts[read.method] = counts.get(read.method, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return [
        "Correct reads by rung of the ladder: "
        + ", ".join(f"{method} {count}" for method, count in ranked)
        + ".",
        "",
    ]


def refused_note(samples: Sequence[Sample]) -> list[str]:
    """Name truth codes that labels.decode must refuse: Handoff-shaped, with a bad check."""
    refused = [s for s in samples if classify(s.text, accept_other=lambda _: True) is None]
    if not refused:
        return []
    names = ", ".join(f"`{s.text}` ({s.name}, {s.kind})" for s in refused)
    return [
        f"Refused by design: {names} — a known Handoff prefix and 11 characters from the ID "
        "alphabet, but a wrong check character, so it can only be a misread Handoff ID and is "
        "never a read; it counts as not decoded above.",
        "",
    ]


def write_docs(text: str, path: Path = DOCS) -> None:
    block = f"{START_MARK}\n{text}\n{END_MARK}"
    # Read right before writing: another benchmark owns other sections of the same file.
    current = path.read_text(encoding="utf-8") if path.exists() else DOCS_HEADER
    start, end = current.find(START_MARK), current.find(END_MARK)
    if start != -1 and end > start:
        current = current[:start] + block + current[end + len(END_MARK) :]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(current, encoding="utf-8")
    log(f"wrote the figures into {path.relative_to(ROOT)}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.decode",
        description="Decode rate, wrong reads and ms per frame: labels.decode, pyzbar, zxing-cpp.",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("HANDOFF_BENCH_DATA") or DEFAULT_DATA),
        help="folder with truth.csv and frames/ (default: $HANDOFF_BENCH_DATA or %(default)s)",
    )
    parser.add_argument(
        "--no-write-docs", action="store_true", help="print only; leave docs/benchmarks.md alone"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    samples = load(args.data)
    log(f"{len(samples)} frames from {args.data}")
    results = [measure("handoff", handoff_decoder, samples)]
    results.append(measure("pyzbar (Code 128)", pyzbar_decoder, samples))
    zxing = zxing_decoder()
    if zxing is None:
        results.append(Result("zxing-cpp (Code 128)", available=False, note="not installed"))
    else:
        results.append(measure("zxing-cpp (Code 128)", zxing, samples))
    command = shlex.join(["python", "-m", "bench.decode", *(argv or sys.argv[1:])])
    text = section(results, samples, command, args.data)
    print(text)
    if not args.no_write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
