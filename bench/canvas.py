"""B10: how smoothly the builder's canvas pans, zooms and drags a node with 50, 150 and 500 nodes,
in headless Chromium: frames per second while each gesture runs, and the main thread's long
tasks (over 50 ms). Run on its own (`python -m bench.canvas`): it needs the built web app and
Debian's Chromium, so `python -m bench` does not include it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from bench.harness import Api, machine, progress, quick, server_url, stack, update_docs

SECTION = "B10 — canvas frames per second"
SIZES = (5,) if quick() else (50, 150, 500)
SECONDS = 0.5 if quick() else 4.0
TARGET_FPS = 30
CHROMIUM = os.environ.get("WFB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
COLUMNS = 10

# Counts animation frames and collects long tasks from the page's start.
_PROBE = """
window.__frames = 0;
window.__longTasks = [];
(function tick() { window.__frames += 1; requestAnimationFrame(tick); })();
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({ type: "longtask", buffered: true });
"""


def big_definition(count: int) -> dict[str, Any]:
    """A trigger and `count - 1` set-variable nodes on a grid, each wired to the next."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "trigger", "position": {"x": 0, "y": 0}, "config": {}}
    ]
    for i in range(1, count):
        nodes.append(
            {
                "id": f"n{i}",
                "type": "set_variable",
                "position": {"x": (i % COLUMNS) * 260, "y": (i // COLUMNS) * 140},
                "config": {"variable": "counter", "value": f"`{i}`"},
            }
        )
    edges = [
        {"id": f"e{i}", "source": nodes[i - 1]["id"], "target": nodes[i]["id"]}
        for i in range(1, count)
    ]
    return {
        "format_version": 1,
        "nodes": nodes,
        "edges": edges,
        "variables": {"counter": {"initial": 0}},
    }


def _counters(page: Page) -> tuple[int, list[float]]:
    frames, tasks = page.evaluate("[window.__frames, window.__longTasks.slice()]")
    return int(frames), [float(t) for t in tasks]


def _gesture(page: Page, step: Any) -> tuple[float, int, float]:
    """Run `step(i)` for SECONDS; return (frames/s, long tasks, their total ms)."""
    frames_before, tasks_before = _counters(page)
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < SECONDS:
        step(i)
        i += 1
    page.evaluate("new Promise((done) => requestAnimationFrame(() => done(null)))")
    elapsed = time.perf_counter() - started
    frames_after, tasks_after = _counters(page)
    new_tasks = tasks_after[len(tasks_before) :]
    return (frames_after - frames_before) / elapsed, len(new_tasks), sum(new_tasks)


def measure(page: Page, base_url: str, workflow_id: str, count: int) -> dict[str, Any]:
    """Open the workflow in the builder and time its gestures."""
    started = time.perf_counter()
    page.goto(f"{base_url}/workflows/{workflow_id}")
    # The canvas draws only the nodes in view: the first one drawn marks it open.
    page.locator('.react-flow__node[data-id="start"]').wait_for(timeout=60_000)
    load_ms = (time.perf_counter() - started) * 1000
    page.wait_for_timeout(500)
    pane = page.locator(".react-flow__pane").bounding_box()
    assert pane is not None
    cx, cy = pane["x"] + pane["width"] / 2, pane["y"] + pane["height"] / 2

    # Pan: drag the empty pane in a circle-ish path.
    page.mouse.move(pane["x"] + 5, pane["y"] + 5)
    page.mouse.down()
    pan = _gesture(
        page, lambda i: page.mouse.move(pane["x"] + 5 + (i % 40) * 6, pane["y"] + 5 + (i % 20) * 4)
    )
    page.mouse.up()

    # Zoom: the wheel, in and out.
    page.mouse.move(cx, cy)
    zoom = _gesture(page, lambda i: page.mouse.wheel(0, -60 if (i // 5) % 2 else 60))

    # Drag one node around.
    page.get_by_role("button", name="Zoom to fit").click()
    page.wait_for_timeout(300)
    # The node in the middle of the grid: with 500 nodes the fitted view cannot show the corners.
    middle = min(count - 1, (count // COLUMNS // 2) * COLUMNS + COLUMNS // 2)
    dragged = page.locator(f'.react-flow__node[data-id="n{middle}"]')
    target = dragged.bounding_box()
    assert target is not None
    x, y = target["x"] + target["width"] / 2, target["y"] + target["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    # React Flow starts a node drag once the pointer has moved a little.
    page.mouse.move(x + 10, y + 10, steps=5)
    drag = _gesture(page, lambda i: page.mouse.move(x + (i % 30) * 5, y + (i % 15) * 4 + 1))
    page.mouse.up()
    moved = dragged.bounding_box()
    if moved is None or (moved["x"], moved["y"]) == (target["x"], target["y"]):
        raise RuntimeError(f"the drag did not move the node ({count} nodes)")
    return {"nodes": count, "load_ms": load_ms, "pan": pan, "zoom": zoom, "drag": drag}


def _cell(result: tuple[float, int, float]) -> str:
    fps, tasks, total = result
    return f"{fps:.1f} fps, {tasks} long tasks ({total:.0f} ms)"


def report(results: list[dict[str, Any]], where: str) -> str:
    lines = [
        f"## {SECTION}",
        "",
        f"`python -m bench.canvas` — {where}. Headless Chromium (`{CHROMIUM}`), 1280x800, "
        f"software rendering; each gesture runs {SECONDS:g} s: pan = drag the empty pane, zoom = "
        "mouse wheel in and out, drag = move one node. A long task is one that kept the main "
        "thread over 50 ms.",
        "",
        "| nodes | open (ms) | pan | zoom | drag a node |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['nodes']} | {r['load_ms']:.0f} | {_cell(r['pan'])} | {_cell(r['zoom'])} | "
            f"{_cell(r['drag'])} |"
        )
    largest = results[-1]
    slowest = min(largest["pan"][0], largest["zoom"][0], largest["drag"][0])
    verdict = "met" if slowest >= TARGET_FPS else "missed"
    lines += [
        "",
        f"Result: with {largest['nodes']} nodes the slowest gesture ran at {slowest:.1f} frames/s "
        f"(target ≥ {TARGET_FPS} for pan, zoom and drag: {verdict}).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure each size and write the section (quick mode prints it only)."""
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}")
    where = machine(server_url())
    results = []
    with stack() as running, sync_playwright() as playwright:
        user: Api = running.sign_up()
        project = user.project(f"canvas-{int(time.time())}")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        tokens = json.dumps({"access_token": user.token, "refresh_token": ""})
        context.add_init_script(f"localStorage.setItem('wfb.tokens', {json.dumps(tokens)});")
        context.add_init_script(_PROBE)
        page = context.new_page()
        for count in SIZES:
            created = user.call(
                "POST",
                "/workflows",
                201,
                json={
                    "kebab_name": f"canvas-{count}-{int(time.time() * 1000) % 100000}",
                    "display_name": f"Canvas {count}",
                    "project_id": project["id"],
                    "definition": big_definition(count),
                },
            )
            progress(f"B10: {count} nodes")
            results.append(measure(page, running.base_url, created["id"], count))
        browser.close()
    text = report(results, where)
    print(text)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    main()
