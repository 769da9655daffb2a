"""The format documentation stays in step with the code."""

from __future__ import annotations

from pathlib import Path

from workflow_builder.compiler import CODES
from workflow_builder.compiler.definition import NODE_TYPES

DOC = Path(__file__).resolve().parents[2] / "docs" / "definition-format.md"


def test_every_validation_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")

    assert [code for code in CODES if f"| `{code}` |" not in text] == []


def test_every_node_type_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")

    assert [t for t in NODE_TYPES if f'"type": "{t}"' not in text] == []
