"""The web app is served at /, signs people in and out, and frames every page."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PASSWORD, screenshot, sign_up, unique_email


def test_visitors_are_sent_to_sign_in(live_server: str, page: Page) -> None:
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.url.endswith("/signin")
    screenshot(page, "sign-in")


def test_client_side_routes_fall_back_to_the_app(live_server: str, page: Page) -> None:
    page.goto(live_server + "/workflows/some-route")
    expect(page.get_by_role("heading", name="Workflow Builder")).to_be_visible()


def test_unknown_api_paths_are_not_swallowed_by_the_app(live_server: str) -> None:
    response = httpx.get(live_server + "/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_sign_up_sign_out_and_sign_in_again(live_server: str, page: Page) -> None:
    email = unique_email("Grace")
    sign_up(page, live_server, name="Grace", email=email)
    # Other users' public workflows may be listed too, so the page is checked, not emptiness.
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('wfb.tokens')") is None

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    expect(page.get_by_text("Grace")).to_be_visible()


@pytest.mark.expected_http_errors(401)
def test_wrong_password_is_reported_on_the_form(live_server: str, page: Page) -> None:
    page.goto(live_server + "/signin")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")


def test_navigation_reaches_every_section(live_server: str, page: Page) -> None:
    sign_up(page, live_server)
    nav = page.get_by_role("navigation", name="Main")
    for label, heading in [
        ("Components", "Components"),
        ("Agent prompts", "Agent prompts"),
        ("Task queues & workers", "Task queues & workers"),
        ("Executions", "Executions"),
        ("Statistics", "Statistics"),
        ("API keys", "API keys"),
        ("Workflows", "Workflows"),
    ]:
        nav.get_by_role("link", name=label, exact=True).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(nav.get_by_role("link", name=label, exact=True)).to_have_attribute(
            "aria-current", "page"
        )


@pytest.mark.expected_http_errors(401)
def test_an_expired_access_token_is_refreshed_without_signing_out(
    live_server: str, page: Page
) -> None:
    sign_up(page, live_server, name="Ren")
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    page.evaluate(
        """() => {
            const tokens = JSON.parse(localStorage.getItem('wfb.tokens'));
            tokens.access_token = 'expired';
            localStorage.setItem('wfb.tokens', JSON.stringify(tokens));
        }"""
    )
    page.reload()
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert page.evaluate("JSON.parse(localStorage.getItem('wfb.tokens')).access_token") != "expired"
