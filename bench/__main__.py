"""Run every benchmark module this package knows, in order, and write docs/benchmarks.md.

`python -m bench` runs them all; `--quick` (or WFB_BENCH_QUICK=1) runs a tiny version of each
that checks the harness works and writes nothing; `--only B1,B7` runs some.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import time

from bench.harness import DOCS, progress, update_docs

SUMMARY = "Summary"

MODULES = {
    "B1": "bench.light_steps",
    "B2": "bench.long_steps",
    "B3": "bench.queue_throughput",
    "B4": "bench.webhook_ingress",
    "B5": "bench.durable_steps",
    "B6": "bench.compile",
    "B7": "bench.list_latency",
    "B8": "bench.fan_out",
    "B9": "bench.temporal_engine",
}


def main() -> None:
    """Run the selected benchmarks' main() in turn."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny runs, nothing written")
    parser.add_argument("--only", default="", help="comma-separated: B1,B2,...")
    args = parser.parse_args()
    if args.quick:
        os.environ["WFB_BENCH_QUICK"] = "1"
    chosen = [b.strip().upper() for b in args.only.split(",") if b.strip()] or list(MODULES)
    unknown = set(chosen) - set(MODULES)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    for key in chosen:
        progress(f"{key}: {MODULES[key]}")
        began = time.monotonic()
        importlib.import_module(MODULES[key]).main()
        progress(f"{key} done in {time.monotonic() - began:.0f} s")
    progress(f"all done in {time.monotonic() - started:.0f} s")
    if not args.quick and set(chosen) == set(MODULES):
        update_docs(SUMMARY, summary(DOCS.read_text(encoding="utf-8")))


def summary(document: str) -> str:
    """Return the summary section: each benchmark's `Result:` paragraph, in order."""
    lines = [f"## {SUMMARY}", "", "| benchmark | result |", "| --- | --- |"]
    for found in re.finditer(r"^## (B\d+) — (.+?)\n(.*?)(?=^## |\Z)", document, re.M | re.S):
        key, title, body = found.groups()
        result = re.search(r"^Result: (.*?)(?:\n\n|\Z)", body, re.M | re.S)
        if result:
            text = " ".join(result.group(1).split())
            lines.append(f"| {key} {title} | {text} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
