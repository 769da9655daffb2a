"""The benchmark harness, end to end on tiny workloads: every benchmark produces numbers.

Runs `python -m bench --quick` as `make bench` would (real PostgreSQL, API and worker
processes), without judging the timings; it writes nothing to docs/benchmarks.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from bench.harness import Spread, percentile, update_docs

ROOT = Path(__file__).resolve().parents[2]


def test_spread_and_percentile() -> None:
    spread = Spread.of([3.0, 1.0, 2.0, 10.0, 4.0])

    assert (spread.median, spread.low, spread.high, spread.count) == (3.0, 1.0, 10.0, 5)
    assert spread.cell(1) == "3.0 (1.0-10.0)"
    assert percentile(list(range(1, 101)), 0.99) == 99
    assert percentile([5.0], 0.5) == 5.0


def test_a_section_is_replaced_and_the_others_kept(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## B1 — a\n\nold\n\n## B6 — compile\n\nkeep\n")

    update_docs("B1 — a", "## B1 — a\n\nnew\n", doc)
    update_docs("B7 — c", "## B7 — c\n\nadded\n", doc)

    text = doc.read_text()
    assert "new" in text and "old" not in text and "keep" in text
    assert text.index("B1") < text.index("B6") < text.index("B7")


@pytest.mark.timeout(600)
def test_quick_run_of_every_benchmark_produces_numbers() -> None:
    docs = ROOT / "docs" / "benchmarks.md"
    before = docs.read_text()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("WFB_BENCH_QUICK", None)
    env["WFB_BENCH_SKIP_PEERS"] = "1"  # Prefect needs its own venv: the full run covers it

    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=590,
        check=False,
    )

    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    for title in ("B1 —", "B2 —", "B3 —", "B4 —", "B5 —", "B6 —", "B7 —", "B8 —", "B9 —"):
        assert f"## {title}" in out, f"no {title} section in:\n{out[-2000:]}"
    b1 = out[out.index("## B1 —") :]
    product = re.search(r"\| Workflow Builder: HTTP start -> completed \| ([\d.,]+) \(", b1)
    assert product and float(product.group(1).replace(",", "")) > 0
    b3 = out[out.index("## B3 —") :]
    assert re.search(r"\| 2 \| [\d,]+ \| [\d.,]+ \(", b3), b3[:1500]
    assert re.search(r"Peak RSS during B3: API \d+ MiB, worker \d+ MiB", b3)
    # Each peer ran and was measured beside the product: a ratio and costs per run.
    cost = r"\| [\d.,]+ \([\d.,-]+\) \| [\d.,]+ \([\d.,-]+\) \| [\d.]+x \|"
    assert re.search(r"\| runs/s " + cost, b3), b3[:3000]
    assert re.search(r"\| worker CPU-ms per run " + cost, b3), b3[:3000]
    assert re.search(r"\| transactions per run \(xact_commit\) \| [\d.,]+ ", b3), b3[:3000]
    b4 = out[out.index("## B4 —") :]
    assert re.search(r"\| hand-written FastAPI -> DBOS enqueue \| [1-9][\d,]* \(", b4), b4[:3000]
    b5 = out[out.index("## B5 —") :]
    assert re.search(r"\| durable steps/s " + cost, b5), b5[:3000]
    b8 = out[out.index("## B8 —") :]
    assert re.search(r"\| hand-written DBOS, through a DBOS queue \| [\d.]+ \(", b8), b8[:3000]
    b9 = out[out.index("## B9 —") :]
    for system in ("Workflow Builder on Temporal", "hand-written Temporal workflow"):
        assert re.search(rf"\| {system}[^|]* \| [\d.]+ \(", b9), b9[:3000]
    assert re.search(r"\| Temporal server CPU-ms per run \| [\d.]+ ", b9), b9[:3000]
    b7 = out[out.index("## B7 —") :]
    assert re.search(r"\| 0 \|", b7), b7[:1500]  # no errors on the tiny load
    assert docs.read_text() == before
