"""The run page links to the run in the engine's own console: the Temporal Web UI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.conftest import Api, chain, trigger
from workflow_builder.config import get_settings

UI = "http://127.0.0.1:18233"


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("WFB_TEMPORAL_UI_URL", UI + "/")
    get_settings.cache_clear()
    yield UI
    monkeypatch.delenv("WFB_TEMPORAL_UI_URL")
    get_settings.cache_clear()


def test_a_finished_run_links_to_its_temporal_history_only_on_temporal(
    api: Api, console: str
) -> None:
    run = api.run(
        {"nodes": [trigger(), {"id": "done", "type": "end"}], "edges": chain("start", "done")}
    )
    assert run["status"] == "completed", run
    if get_settings().engine != "temporal":
        assert run["engine_url"] is None
        return
    namespace = get_settings().temporal_namespace
    assert run["engine_workflow_id"] == run["id"]
    assert run["engine_url"] == (
        f"{console}/namespaces/{namespace}/workflows/{run['id']}/{run['engine_run_id']}/history"
    )
