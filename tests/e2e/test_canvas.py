"""A big workflow's canvas: zoomed far out nodes drop their unreadable details but keep their
name and problem badge; dragging a node among 150 moves and saves it, badges intact."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.helpers import api, error_badge, node, sign_up

COLUMNS = 10


def grid_definition(count: int) -> dict[str, Any]:
    """A trigger and `count - 1` set-variable nodes on a grid, each wired to the next; node n5
    is a condition without an expression (an error the compiler reports on it)."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "trigger", "position": {"x": 0, "y": 0}, "config": {}}
    ]
    for i in range(1, count):
        position = {"x": (i % COLUMNS) * 260, "y": (i // COLUMNS) * 140}
        if i == 5:
            nodes.append({"id": "n5", "type": "condition", "position": position, "config": {}})
            continue
        nodes.append(
            {
                "id": f"n{i}",
                "type": "set_variable",
                "position": position,
                "config": {"variable": "counter", "value": f"`{i}`"},
            }
        )
    edges = []
    for i in range(1, count):
        edge: dict[str, Any] = {
            "id": f"e{i}",
            "source": nodes[i - 1]["id"],
            "target": nodes[i]["id"],
        }
        if nodes[i - 1]["type"] == "condition":
            edge["source_handle"] = "true"
        edges.append(edge)
    return {
        "format_version": 1,
        "nodes": nodes,
        "edges": edges,
        "variables": {"counter": {"initial": 0}},
    }


def zoom(page: Page) -> float:
    style = page.locator(".react-flow__viewport").get_attribute("style") or ""
    found = re.search(r"scale\(([\d.]+)\)", style)
    assert found, style
    return float(found.group(1))


def test_far_zoom_draws_less_and_a_drag_among_many_nodes_saves(
    live_server: str, page: Page
) -> None:
    token = sign_up(page, live_server)
    client = api(live_server, token)
    created = client.post(
        "/workflows",
        json={
            "kebab_name": "big-canvas",
            "display_name": "Big canvas",
            "definition": grid_definition(150),
        },
    )
    assert created.status_code == 201, created.text
    workflow_id = created.json()["id"]
    page.goto(f"{live_server}/workflows/{workflow_id}")

    # 150 nodes fit the view only far out: details, handles and arrowheads go; names and
    # problem badges stay.
    expect(node(page, "n12")).to_be_visible()
    assert zoom(page) < 0.45
    canvas = page.get_by_role("region", name="Canvas")
    expect(canvas).to_have_class(re.compile(r"\bfar\b"))
    expect(node(page, "n12").locator(".flow-node-title")).to_be_visible()
    expect(node(page, "n12").locator(".flow-node-type")).to_be_hidden()
    expect(node(page, "n12").locator(".react-flow__handle").first).to_be_hidden()
    expect(error_badge(page, "n5")).to_be_visible(timeout=10_000)

    # Drag a node: it follows the pointer, is saved where it was dropped, and the badges stay.
    dragged = node(page, "n12")
    before = dragged.bounding_box()
    assert before is not None
    x, y = before["x"] + before["width"] / 2, before["y"] + before["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y + 30, steps=10)
    page.mouse.move(x + 80, y + 60, steps=10)
    page.mouse.up()
    after = dragged.bounding_box()
    assert after is not None
    assert after["x"] - before["x"] > 60 and after["y"] - before["y"] > 40
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    saved = client.get(f"/workflows/{workflow_id}").json()["definition"]
    moved = next(n for n in saved["nodes"] if n["id"] == "n12")
    assert moved["position"]["x"] > 2 * 260 + 100, moved["position"]
    expect(error_badge(page, "n5")).to_be_visible()

    # Zoomed in, the details and handles are back.
    page.mouse.move(x + 80, y + 60)
    for _ in range(3):
        page.mouse.wheel(0, -500)
    expect(canvas).not_to_have_class(re.compile(r"\bfar\b"))
    assert zoom(page) >= 0.45
    expect(node(page, "n12").locator(".flow-node-type")).to_be_visible()
    expect(node(page, "n12").locator(".react-flow__handle").first).to_be_visible()
