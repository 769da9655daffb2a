"""The benchmark harness runs (on the smallest size, without judging timings)."""

from __future__ import annotations

from pathlib import Path

from bench.compile import CATALOG, generate_workflow, measure, update_docs

from workflow_builder.compiler import validate


def test_generated_workflows_are_valid() -> None:
    assert validate(generate_workflow(10), CATALOG).ok


def test_the_harness_measures_the_smallest_size() -> None:
    row = measure(10, runs=1)

    assert row.nodes == 10
    assert row.median_ms >= 0


def test_the_docs_section_is_replaced_and_other_sections_kept(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "# Benchmarks\n\n## B1 — api\n\nkeep\n\n## B6 — compile\n\nold\n\n## B7 — x\n\nalso\n"
    )

    update_docs("## B6 — compile\n\nnew\n", doc)

    text = doc.read_text()
    assert "new" in text and "old" not in text
    assert text.index("B1") < text.index("B6") < text.index("B7")
    assert "keep" in text and "also" in text
