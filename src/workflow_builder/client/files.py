"""`wfb workflows pull` and `push`: one JSON file per workflow, in the API's export format."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow_builder.client.http import EXIT_FAILED, Api, ClientError

SUFFIX = ".json"


def render(document: dict[str, Any]) -> str:
    """The file text of a document: sorted keys, two-space indent, one final newline, so a diff
    between two pulls shows only what changed."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _pointer_parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def node_at(document: Any, pointer: str) -> str | None:
    """The id of the definition node a JSON Pointer into the document falls in, if any."""
    parts = _pointer_parts(pointer)
    if parts[:3] != ["workflow", "definition", "nodes"] or len(parts) < 4:
        return None
    try:
        node = document["workflow"]["definition"]["nodes"][int(parts[3])]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return str(node["id"]) if isinstance(node, dict) and "id" in node else None


@dataclass
class Problem:
    """One reason a file cannot be pushed."""

    file: str
    message: str
    pointer: str = ""
    node: str | None = None
    code: str | None = None

    def line(self) -> str:
        where = [self.file]
        if self.node:
            where.append(f"node {self.node!r}")
        if self.pointer:
            where.append(self.pointer)
        suffix = f" [{self.code}]" if self.code else ""
        return f"{': '.join(where)}: {self.message}{suffix}"


@dataclass
class Loaded:
    """A file read and parsed."""

    path: Path
    document: dict[str, Any]

    @property
    def kebab_name(self) -> str:
        workflow = self.document.get("workflow")
        name = workflow.get("kebab_name") if isinstance(workflow, dict) else None
        return str(name) if name else ""


@dataclass
class PushReport:
    problems: list[Problem] = field(default_factory=list)
    results: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def workflow_files(directory: Path) -> list[Path]:
    """The workflow files of a directory, by name."""
    return sorted(p for p in directory.iterdir() if p.suffix == SUFFIX and p.is_file())


def pull(api: Api, directory: Path, *, project_id: str | None) -> list[tuple[Path, str]]:
    """Write the caller's workflows (of one project, if given) to `directory`; return each
    file with 'written' or 'unchanged'."""
    me = api.get("/me")
    params: dict[str, Any] = {"created_by": me["id"], "sort": "kebab_name"}
    if project_id:
        params["project_id"] = project_id
    directory.mkdir(parents=True, exist_ok=True)
    done: list[tuple[Path, str]] = []
    for summary in api.pages("/workflows", **params):
        document = api.get(f"/workflows/{summary['id']}/export")
        path = directory / f"{summary['kebab_name']}{SUFFIX}"
        text = render(document)
        if path.exists() and path.read_text() == text:
            done.append((path, "unchanged"))
            continue
        path.write_text(text)
        done.append((path, "written"))
    return done


def load(files: list[Path]) -> tuple[list[Loaded], list[Problem]]:
    """Parse every file; a file that is not a JSON object is a problem, not a crash."""
    loaded: list[Loaded] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            document = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            problems.append(
                Problem(path.name, f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
            )
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(path.name, f"cannot read: {exc}"))
            continue
        if not isinstance(document, dict):
            problems.append(Problem(path.name, "not an exported workflow (a JSON object)"))
            continue
        item = Loaded(path, document)
        if item.kebab_name in seen:
            problems.append(
                Problem(
                    path.name,
                    f"kebab name {item.kebab_name!r} is also the one of {seen[item.kebab_name]}",
                    "/workflow/kebab_name",
                )
            )
        seen.setdefault(item.kebab_name, path.name)
        loaded.append(item)
    return loaded, problems


def check(api: Api, items: list[Loaded]) -> list[Problem]:
    """Ask the server to check every document (nothing is saved); return every problem."""
    names = sorted({item.kebab_name for item in items if item.kebab_name})
    problems: list[Problem] = []
    for item in items:
        try:
            report = api.post(
                "/workflows/validate", json={**item.document, "known_workflows": names}
            )
        except ClientError as error:
            if error.status != 422 or not isinstance(error.body, dict):
                raise
            for detail in error.body.get("errors") or [{"message": str(error)}]:
                pointer = str(detail.get("pointer") or "")
                problems.append(
                    Problem(
                        item.path.name, detail["message"], pointer, node_at(item.document, pointer)
                    )
                )
            continue
        for found in report["errors"]:
            problems.append(
                Problem(
                    item.path.name,
                    found["message"],
                    found["pointer"],
                    found.get("node_id") or node_at(item.document, found["pointer"]),
                    found["code"],
                )
            )
    return problems


def push(api: Api, directory: Path, *, project_id: str | None, deploy: bool) -> PushReport:
    """Check every file, then (only when all are valid) create or update each workflow and
    deploy the ones that changed if asked."""
    report = PushReport()
    files = workflow_files(directory)
    if not files:
        raise ClientError(f"No {SUFFIX} files in {directory}", EXIT_FAILED)
    items, report.problems = load(files)
    report.problems.extend(check(api, items))
    if report.problems:
        return report
    # Children first: a parent's child workflow links to the child when it exists already.
    children = {
        child.get("child_workflow_name")
        for item in items
        for child in item.document.get("child_workflows") or []
        if isinstance(child, dict)
    }
    items.sort(key=lambda item: item.kebab_name not in children)
    for item in items:
        existing = api.get("/workflows", params={"kebab_name": item.kebab_name, "limit": 1})
        if existing["items"]:
            workflow_id = existing["items"][0]["id"]
            applied = api.put(f"/workflows/{workflow_id}/export", json=item.document)
            outcome = applied["outcome"]
        else:
            body = {**item.document, **({"project_id": project_id} if project_id else {})}
            created = api.post("/workflows/import", json=body)
            workflow_id = created["id"]
            applied = api.put(f"/workflows/{workflow_id}/export", json=item.document)
            outcome = "created"
        detail: dict[str, Any] = {"id": workflow_id, "content_hash": applied["content_hash"]}
        if deploy and outcome != "unchanged":
            deployed = api.post(f"/workflows/{workflow_id}/deploy")
            detail["deployed"] = deployed
        report.results.append((item.path.name, outcome, detail))
    return report
