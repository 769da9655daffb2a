"""The API seen from the CLI: JSON over HTTP with an API key, and one-line errors."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from workflow_builder.client.profile import Profile

if TYPE_CHECKING:
    import httpx

# Exit codes scripts can rely on (docs/cli.md).
EXIT_OK = 0
EXIT_FAILED = 1  # a run failed, was canceled or timed out; a push was refused
EXIT_USAGE = 2  # bad arguments, unknown workflow or run, no or bad credentials
EXIT_UNREACHABLE = 3  # the server did not answer (or answered 5xx)


class ClientError(Exception):
    """A failure to show as one line, with the exit code it ends the command with."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED, status: int | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status
        self.body: Any = None


def _describe(response: httpx.Response) -> str:
    """The server's own words for a refusal: the problem's detail and its field errors."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:300]
    text = str(body.get("detail") or body.get("title") or response.reason_phrase)
    errors = body.get("errors") or []
    fields = [
        f"{e.get('pointer') or '/'.join(map(str, e.get('loc', [])))}: {e.get('message')}"
        for e in errors
        if isinstance(e, dict)
    ]
    return "; ".join([text, *fields]) if fields else text


class Api:
    """Calls to /api/v1 of the profile's server with its API key."""

    def __init__(self, profile: Profile, *, timeout: float = 30.0) -> None:
        import httpx  # here, not at the top: every `wfb` command would pay for its import

        self.profile = profile
        self.http = httpx.Client(
            base_url=f"{profile.url}/api/v1",
            headers={"X-API-Key": profile.api_key, "Accept": "application/json"},
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; return the decoded JSON body (None when empty) or raise ClientError."""
        import httpx

        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ClientError(
                f"The server at {self.profile.url} did not answer in time", EXIT_UNREACHABLE
            ) from None
        except httpx.TransportError as exc:
            raise ClientError(
                f"Cannot reach the server at {self.profile.url} ({type(exc).__name__}: {exc})",
                EXIT_UNREACHABLE,
            ) from None
        if response.status_code == 401:
            raise ClientError(
                f"The server at {self.profile.url} refused the API key ({_describe(response)}); "
                "run `wfb login` with a valid key",
                EXIT_USAGE,
                401,
            )
        if response.status_code >= 500:
            raise ClientError(
                f"The server answered {response.status_code}: {_describe(response)}",
                EXIT_UNREACHABLE,
                response.status_code,
            )
        if response.status_code >= 400:
            error = ClientError(
                _describe(response),
                EXIT_USAGE if response.status_code in (403, 404) else EXIT_FAILED,
                response.status_code,
            )
            with contextlib.suppress(ValueError):
                error.body = response.json()
            raise error
        if not response.content:
            return None
        return response.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def workflow(self, reference: str) -> dict[str, Any]:
        """Return the workflow a kebab name or id names (summary fields), or raise naming it."""
        from uuid import UUID

        try:
            UUID(reference)
        except ValueError:
            page = self.get("/workflows", params={"kebab_name": reference, "limit": 1})
            items = page.get("items", []) if isinstance(page, dict) else []
            if not items:
                raise ClientError(
                    f"No workflow named {reference!r} is visible to you", EXIT_USAGE
                ) from None
            found: dict[str, Any] = items[0]
            return found
        try:
            workflow: dict[str, Any] = self.get(f"/workflows/{reference}")
        except ClientError as error:
            if error.status == 404:
                raise ClientError(
                    f"No workflow with id {reference} is visible to you", EXIT_USAGE
                ) from None
            raise
        return workflow

    def pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paginated listing."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.get(path, params={**params, "limit": 100, "offset": offset})
            batch = page.get("items", [])
            items.extend(batch)
            offset += len(batch)
            if not batch or offset >= int(page.get("total", 0)):
                return items
