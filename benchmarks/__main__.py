"""``python -m benchmarks [--quick] [--json FILE] [--only storage|ui|backends] [--keep DIR]``.

Measures every figure of the performance table beside its naive baseline in
the same run, prints the table and optionally writes it as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Result


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "MB" or v < 10:
        return f"{v:,.2f} {unit}"
    return f"{v:,.0f} {unit}"


def table(results: list[Result]) -> str:
    head = ["figure", "size", "ours", "baseline", "ratio", "target", "met?"]
    rows = []
    for r in results:
        ratio = r.ratio
        rows.append(
            [
                r.figure,
                r.size,
                fmt(r.ours, r.unit),
                fmt(r.baseline, r.unit),
                "—" if ratio is None else f"{ratio:,.1f}x",
                r.target or "—",
                {True: "yes", False: "NO", None: "—"}[r.met],
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    notes = [f"- {r.figure} ({r.size}): {r.note}" for r in results if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke run, < 60 s)")
    p.add_argument("--json", type=Path, help="write the results to this file")
    p.add_argument(
        "--only",
        choices=["storage", "ui", "backends"],
        help="run one group (ui needs storage; backends: SQLite, PostgreSQL, Redis)",
    )
    p.add_argument("--keep", type=Path, help="keep the databases in this directory")
    args = p.parse_args(argv)

    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {msg}", file=sys.stderr, flush=True)

    from benchmarks import backends, storage, ui

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.only != "backends":
            storage_results, art = storage.run(work, args.quick, log)
            if args.only != "ui":
                results += storage_results
            if args.only != "storage":
                results += ui.run(work, art, args.quick, log)
        if args.only in (None, "backends"):
            results += backends.run(work, args.quick, log)

    out = table(results)
    print(out)
    meta: dict[str, Any] = {
        "quick": args.quick,
        "cores": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "python": platform.python_version(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(
        f"\n{meta['cores']} cores, load average {meta['load_average_at_end']}, {meta['seconds']} s"
    )
    if args.json:
        doc = {"meta": meta, "results": [r.as_dict() for r in results]}
        args.json.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
