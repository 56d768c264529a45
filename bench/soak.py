"""The soak (``make soak``): ten minutes of a county day at 20× speed, 4 workers, PostgreSQL.

A fresh PostgreSQL database (dropped afterwards) gets the demo county; ``handoff simulate``
then starts ``handoff serve --workers 4`` and one scanner agent process per station (42) and
plays 200 minutes of the day (07:50–11:10) in ten minutes. It passes when every scan is typed,
the server stores exactly the events the day should make, nothing is rejected, no agent or
API call reports a problem, ``verify`` is clean and the server's memory is flat: the median
resident memory of all server processes over the last tenth of the run exceeds that of the
tenth around half-way by less than ``--max-rss-growth-mb`` (20 MB). The figures go into
docs/benchmarks.md between ``<!-- soak:start -->`` and ``<!-- soak:end -->``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- soak:start -->"
END_MARK = "<!-- soak:end -->"
ADMIN_URL = os.environ.get(
    "HANDOFF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _admin() -> psycopg.Connection:
    url = make_url(ADMIN_URL)
    return psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        dbname=url.database, autocommit=True, connect_timeout=5,
    )  # fmt: skip


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _git() -> str:
    answer = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return answer.stdout.strip() or "?"


def _write(section: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = f"{START_MARK}\n{section.rstrip()}\n{END_MARK}"
    if START_MARK in text and END_MARK in text:
        before = text.split(START_MARK, 1)[0]
        after = text.split(END_MARK, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=20)
    parser.add_argument("--minutes", type=float, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--volume", type=int, default=6)
    parser.add_argument("--boxes", type=int, default=24)
    parser.add_argument("--max-rss-growth-mb", type=float, default=20)
    parser.add_argument("--no-write", action="store_true", help="Do not touch the docs")
    args = parser.parse_args()

    name = f"handoff_soak_{uuid.uuid4().hex[:8]}"
    database_url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    load_before = _load()
    started = time.monotonic()
    lines: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="handoff-soak-") as scratch:
            command = [
                sys.executable, "-m", "server.cli", "simulate",
                "--database-url", database_url, "--workers", str(args.workers),
                "--speed", f"{args.speed:g}", "--minutes", f"{args.minutes:g}",
                "--volume", str(args.volume), "--boxes", str(args.boxes),
                "--tokens", f"{scratch}/tokens.txt", "--work-dir", f"{scratch}/run",
                "--progress", "30", "--max-rss-growth-mb", f"{args.max_rss_growth_mb:g}",
            ]  # fmt: skip
            process = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env={**os.environ, "COLUMNS": "200"},
            )  # fmt: skip
            assert process.stdout is not None
            for line in process.stdout:
                print(line, end="", flush=True)
                lines.append(line.rstrip("\n"))
            code = process.wait()
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    seconds = time.monotonic() - started
    with _admin() as admin:
        version = str(admin.execute("show server_version").fetchone()[0])  # type: ignore[index]
    wanted = ("scans typed", "events:", "server answers", "flagged:", "rejected:", "verify:",
              "server RSS", "run time", "  problem:", "error:", "simulation passed")  # fmt: skip
    figures = [line for line in lines if line.startswith(wanted)]
    progress = [line for line in lines if re.match(r"^\[\d\d:\d\d\]", line)]
    plan = next((line for line in lines if " minutes of the day at " in line), "")
    verdict = "**passed**" if code == 0 else f"**failed** (exit {code})"
    section = f"""## Soak: a county day at 20× through real agents, 4 workers, PostgreSQL (`make soak`)

- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {seconds / 60:.1f} min in all (demo county load included)
- Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {version}; server, 42 agents, the simulator and PostgreSQL share the machine (load average 1/5/15 min {load_before} before, {_load()} after)
- Command: `python -m bench.soak` (`make soak`; code: git {_git()}): `handoff simulate --workers {args.workers} --speed {args.speed:g} --minutes {args.minutes:g} --volume {args.volume} --boxes {args.boxes} --max-rss-growth-mb {args.max_rss_growth_mb:g}` on a fresh database, dropped afterwards
- Plan: {plan}
- Result: {verdict}

```
{chr(10).join(figures)}
```

Progress as it went (every 30 s; `[HH:MM]` is the simulated day's clock):

```
{chr(10).join(progress[:: max(1, len(progress) // 10)] + progress[-1:])}
```

What is played: the demo county's 19 townships, 4 couriers, the laboratory and the pathology centre; each clinic fills 1–3 × {args.volume} specimen boxes per courier visit (each has at least {args.boxes} boxes), and every box goes its whole round: `prepare` (the clinic's system, through the API), `seal` at the clinic bench, `pickup` at the clinic door, `handoff` at the laboratory door, `receive` at the laboratory bench, `accept`, `open` and `dispatch` (the laboratory's board, through the API), `deliver` back at the clinic door on the courier's next loop. Each station is its own `python -m scanner_agent run` process with the site's device token and its stdin as the scanner; its outbox, station state and sync are the real agent's. Memory rule: the server's resident memory is the sum over `handoff serve` and its worker processes, sampled every 2 s; **flat** means the median over the last tenth of the samples exceeds the median over the tenth around half-way by less than {args.max_rss_growth_mb:g} MB.
"""  # noqa: E501
    if not args.no_write:
        _write(section)
        print(f"figures written to {DOC.relative_to(ROOT)}")
    return code


if __name__ == "__main__":
    sys.exit(main())
