"""The web app is served at / and talks to the API."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_web_app_loads_and_reaches_the_server(live_server: str, page: Page) -> None:
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Workflow Builder")).to_be_visible()
    expect(page.get_by_test_id("health")).to_contain_text("ok")


def test_client_side_routes_fall_back_to_the_app(live_server: str, page: Page) -> None:
    page.goto(live_server + "/workflows/some-route")
    expect(page.get_by_role("heading", name="Workflow Builder")).to_be_visible()


def test_unknown_api_paths_are_not_swallowed_by_the_app(live_server: str) -> None:
    import httpx

    response = httpx.get(live_server + "/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
