"""The in-memory catalog and the components file format."""

from __future__ import annotations

import json
from pathlib import Path

from workflow_builder.compiler import InMemoryCatalog, load_catalog
from workflow_builder.compiler.catalog import component_from_dict


def catalog_with(*versions: str) -> InMemoryCatalog:
    """Return a catalog holding component `c` at the given versions."""
    return InMemoryCatalog(component_from_dict({"name": "c", "version": v}) for v in versions)


def test_latest_compares_versions_numerically() -> None:
    found = catalog_with("1.9.0", "1.10.0", "1.2.0").resolve("c", None)

    assert found is not None and found.version == "1.10.0"


def test_a_pre_release_comes_before_its_release() -> None:
    catalog = catalog_with("2.0.0-rc1", "2.0.0", "1.0.0")

    assert catalog.versions("c") == ["1.0.0", "2.0.0-rc1", "2.0.0"]


def test_unknown_names_and_versions_resolve_to_none() -> None:
    catalog = catalog_with("1.0.0")

    assert catalog.resolve("c", "9.0.0") is None
    assert catalog.resolve("missing", None) is None
    assert catalog.versions("missing") == []


def test_components_file_adds_to_the_built_in_components(tmp_path: Path) -> None:
    path = tmp_path / "components.json"
    path.write_text(json.dumps([{"name": "c", "version": "1.0.0", "type": "agent"}]))

    catalog = load_catalog(path)

    found = catalog.resolve("c", "1.0.0")
    assert found is not None and found.type == "agent" and found.id
    assert catalog.resolve("http_request", None) is not None
    assert catalog.resolve("transform", None) is not None


def test_non_ascii_digits_in_versions_do_not_break_ordering() -> None:
    assert catalog_with("1.²", "1.0").versions("c") == ["1.²", "1.0"]
