"""The node panel's defects as a newcomer met them: a fresh HTTP node with a doubled URL field, a
raw schema error and a panel wider than itself; a trigger showing every kind's fields; code
editors that drop line breaks; expression errors only after a save."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.e2e.helpers import api, connect, drop, node, sign_up
from tests.e2e.test_node_forms import editor, open_workflow, region, setup_project, wait_for_run
from workflow_builder.activities.registry import sync_components
from workflow_builder.db import Database, system_session


def start(page: Page, live_server: str, db: Database) -> tuple[str, object]:
    with system_session() as session:
        sync_components(session)
    token = sign_up(page, live_server, name="Panel")
    client = api(live_server, token)
    project_id = setup_project(client)
    workflow_id = open_workflow(page, live_server, client, project_id)
    return workflow_id, client


def test_a_fresh_http_node_has_one_url_field_plain_errors_and_fits_the_panel(
    live_server: str, page: Page, db: Database
) -> None:
    start(page, live_server, db)
    drop(page, "palette-trigger", 300, 40)
    drop(page, "palette-http_request", 300, 200)
    connect(page, "trigger_1", "next", "activity_1")
    node(page, "activity_1").click()
    panel = page.get_by_role("complementary", name="Settings of activity_1")
    config = region(panel, "Configuration")

    expect(config.get_by_label("URL", exact=True)).to_have_count(1)
    expect(config.get_by_role("switch", name="Use a secret")).to_have_count(1)
    # The JSON body is a JSON editor, not an error about an unknown field type.
    expect(editor(config, "JSON")).to_be_visible()
    expect(panel.get_by_role("list", name="Problems of this node")).to_have_text(
        "activity_1: the setting url is required.", timeout=10_000
    )
    for raw in ("is not of type", "Option 1", "Unsupported", "config_schema", "None"):
        expect(panel).not_to_contain_text(raw)
    # The check that found it, and where, are one click away.
    panel.get_by_role("button", name="Details of this problem").click()
    expect(panel.get_by_test_id("problem-detail")).to_have_text("invalid_config at /nodes/1/config")
    # Defaults are shown, not written: the fresh node's config is empty.
    expect(config.get_by_label("Timeout (seconds)")).to_have_attribute(
        "placeholder", "30 (default)"
    )
    overflow = page.evaluate(
        "() => { const p = document.querySelector('.side-panel');"
        " return p.scrollWidth - p.clientWidth; }"
    )
    assert overflow <= 0

    # With a secret chosen for the URL the field stays one field.
    config.get_by_role("switch", name="Use a secret").check()
    config.get_by_label("URL", exact=True).select_option("API_TOKEN")
    expect(panel.get_by_role("list", name="Problems of this node")).to_have_count(0, timeout=10_000)


def test_a_trigger_shows_only_the_fields_of_its_kind(
    live_server: str, page: Page, db: Database
) -> None:
    workflow_id, client = start(page, live_server, db)
    drop(page, "palette-trigger", 300, 40)
    drop(page, "palette-end", 300, 200)
    connect(page, "trigger_1", "next", "end_1")
    node(page, "trigger_1").click()
    panel = page.get_by_role("complementary", name="Settings of trigger_1")
    config = region(panel, "Configuration")
    kind = config.get_by_label("Starts")
    fields = ("Cron", "Time zone", "Signal", "Webhook path", "Signing secret")

    def shown() -> set[str]:
        return {f for f in fields if config.get_by_label(f, exact=True).count()}

    assert shown() == set()
    kind.select_option("schedule")
    expect(config.get_by_label("Cron")).to_be_visible()
    assert shown() == {"Cron", "Time zone"}
    config.get_by_label("Cron").fill("0 9 * * 1-5")
    config.get_by_label("Time zone").fill("Europe/Paris")

    kind.select_option("webhook")
    expect(config.get_by_label("Webhook path")).to_be_visible()
    assert shown() == {"Webhook path"}
    config.get_by_label("Webhook path").fill(f"orders-{uuid.uuid4().hex[:6]}")
    config.get_by_label("Callers authenticate with").select_option("hmac")
    # The signing secret is chosen from the project's secrets.
    config.get_by_label("Signing secret").select_option("API_TOKEN")
    config.get_by_label("Rate limit (runs per second)").fill("20")
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    expect(page.get_by_test_id("problems-summary")).to_have_text(
        "0 errors, 0 warnings", timeout=10_000
    )
    saved = client.get(f"/workflows/{workflow_id}").json()["definition"]  # type: ignore[attr-defined]
    trigger = next(n for n in saved["nodes"] if n["id"] == "trigger_1")
    # The schedule's settings went with the change of kind.
    assert set(trigger["config"]) == {"kind", "path", "auth", "secret", "rate_limit_per_second"}
    assert trigger["config"]["secret"] == "API_TOKEN"


def test_code_editors_keep_enter_and_pasted_lines(
    live_server: str, page: Page, db: Database
) -> None:
    workflow_id, client = start(page, live_server, db)
    drop(page, "palette-python_code", 300, 200)
    node(page, "activity_1").click()
    panel = page.get_by_role("complementary", name="Settings of activity_1")
    code = editor(region(panel, "Configuration"), "Code")
    code.click()
    page.keyboard.type("import math")
    page.keyboard.press("Enter")
    pasted = "\ndef main(inputs):\n    return math.floor(2.5)\n"
    code.evaluate(
        """(element, text) => {
            const data = new DataTransfer();
            data.setData('text/plain', text);
            element.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data,
                bubbles: true, cancelable: true}));
        }""",
        pasted,
    )
    expect(code).to_contain_text("return math.floor(2.5)")
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    saved = client.get(f"/workflows/{workflow_id}").json()["definition"]  # type: ignore[attr-defined]
    config = next(n for n in saved["nodes"] if n["id"] == "activity_1")["config"]
    assert config["code"] == "import math\n" + pasted


def test_expression_errors_show_as_you_type(live_server: str, page: Page, db: Database) -> None:
    start(page, live_server, db)
    drop(page, "palette-trigger", 300, 40)
    drop(page, "palette-condition", 300, 200)
    connect(page, "trigger_1", "next", "condition_1")
    node(page, "condition_1").click()
    panel = page.get_by_role("complementary", name="Settings of condition_1")
    expression = editor(panel, "Expression")
    expression.click()
    page.keyboard.type("input.amount >")
    expect(panel.get_by_text("The expression ends too early.")).to_be_visible()
    page.keyboard.type(" `100")
    expect(panel.get_by_text("A ` is not closed.")).to_be_visible()
    page.keyboard.type("`")
    expect(panel.get_by_role("alert")).to_have_count(0)
    expression.fill("amount > `100`")
    expect(panel.get_by_text('"amount" is not something an expression can read')).to_be_visible()
    expression.fill("nodes.fetch.output")
    expect(panel.get_by_text('There is no node "fetch".')).to_be_visible()
    # Completion offers the upstream nodes, and a one-line editor ignores Enter.
    expression.fill("")
    page.keyboard.type("nodes.")
    option = page.locator(".cm-tooltip-autocomplete [role=option]").filter(has_text="trigger_1")
    expect(option).to_be_visible()
    option.click()
    page.keyboard.press("Enter")
    expect(expression).to_have_text("nodes.trigger_1")


def test_built_in_node_kinds_are_filled_through_their_forms_and_run(
    live_server: str, page: Page, db: Database, worker: str
) -> None:
    workflow_id, client = start(page, live_server, db)
    drop(page, "palette-trigger", 300, 40)
    node(page, "trigger_1").click()
    trigger = page.get_by_role("complementary", name="Settings of trigger_1")
    trigger.get_by_role("button", name="+ Add input field").click()
    trigger.get_by_label("Field name").fill("amount")
    trigger.get_by_label("Type").select_option(label="Number")
    drop(page, "palette-switch", 300, 200)
    drop(page, "palette-delay", 150, 360)
    drop(page, "palette-end", 300, 520)
    connect(page, "trigger_1", "next", "switch_1")

    node(page, "switch_1").click()
    panel = page.get_by_role("complementary", name="Settings of switch_1")
    cases = region(panel, "Configuration").get_by_role("group", name="Cases", exact=True)
    first = cases.get_by_role("group", name="Cases 1")
    first.get_by_label("Name").fill("big")
    editor(first, "Expression").click()
    page.keyboard.type("input.")
    page.locator(".cm-tooltip-autocomplete [role=option]").filter(has_text="amount").click()
    page.keyboard.type(" > `100`")
    cases.get_by_role("button", name="Add to Cases").click()
    second = cases.get_by_role("group", name="Cases 2")
    second.get_by_label("Name").fill("small")
    editor(second, "Expression").fill("input.amount <= `100`")
    connections = region(panel, "Connections")
    connections.get_by_label("On big").select_option("delay_1")
    connections.get_by_label("On small").select_option("end_1")
    connections.get_by_label("On default").select_option("end_1")

    node(page, "delay_1").click()
    panel = page.get_by_role("complementary", name="Settings of delay_1")
    region(panel, "Configuration").get_by_label("Seconds").fill("0.2")
    region(panel, "Connections").get_by_label("Then").select_option("end_1")

    node(page, "end_1").click()
    panel = page.get_by_role("complementary", name="Settings of end_1")
    config = region(panel, "Configuration")
    config.get_by_label("Status").select_option("completed")
    editor(config, "Output").click()
    page.keyboard.type("nodes.")
    page.locator(".cm-tooltip-autocomplete [role=option]").filter(has_text="trigger_1").click()
    page.keyboard.type(".output")

    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved", timeout=10_000)
    expect(page.get_by_test_id("problems-summary")).to_have_text(
        "0 errors, 0 warnings", timeout=10_000
    )
    definition = client.get(f"/workflows/{workflow_id}").json()["definition"]  # type: ignore[attr-defined]
    by_id = {n["id"]: n for n in definition["nodes"]}
    assert by_id["switch_1"]["config"] == {
        "cases": [
            {"name": "big", "expression": "input.amount > `100`"},
            {"name": "small", "expression": "input.amount <= `100`"},
        ]
    }
    assert by_id["delay_1"]["config"] == {"seconds": 0.2}
    assert by_id["end_1"]["config"] == {"status": "completed", "output": "nodes.trigger_1.output"}

    page.get_by_role("button", name="Deploy").click()
    expect(page.get_by_test_id("deploy-message")).to_have_text("Deployed.")
    started = client.post(  # type: ignore[attr-defined]
        f"/workflows/{workflow_id}/executions", json={"inputs": {"amount": 250}}
    )
    assert started.status_code == 201, started.text
    run = wait_for_run(client, started.json()["id"])  # type: ignore[arg-type]
    assert run["status"] == "completed", run.get("error")
    ran = {step["node_id"] for step in run["steps"] if step["status"] == "completed"}
    assert {"switch_1", "delay_1", "end_1"} <= ran
