"""Serving the built web app (frontend/, built into the package's static folder)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Paths the web app never owns: unknown ones there are the API's 404s, not the app's pages.
SERVER_PREFIXES = ("api/", "hooks/", "docs", "redoc", "openapi.json", "health", "assets/")


def mount_web_app(app: FastAPI, static_dir: Path = STATIC_DIR) -> bool:
    """Serve the built app at `/` with client-side routes falling back to index.html.

    Returns False (and serves nothing) when the app has not been built.
    """
    index = static_dir / "index.html"
    if not index.exists():
        return False
    app.mount("/assets", StaticFiles(directory=static_dir / "assets"), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    def web_app(path: str) -> FileResponse:
        if path.startswith(SERVER_PREFIXES):
            raise HTTPException(status_code=404)
        candidate = (static_dir / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(static_dir):
            return FileResponse(candidate)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    return True
