"""Where the CLI finds its server and API key: a profile file in the user's config directory
(mode 0600), overridden by WFB_URL / WFB_API_KEY."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PROFILE = "default"


class ProfileError(Exception):
    """No usable profile: the message says what to run."""


@dataclass(frozen=True)
class Profile:
    """A server and the API key to call it with."""

    url: str
    api_key: str


def profiles_path() -> Path:
    """The profiles file: $WFB_CONFIG_DIR/profiles.json, else the user's config directory."""
    explicit = os.environ.get("WFB_CONFIG_DIR")
    if explicit:
        return Path(explicit) / "profiles.json"
    from platformdirs import user_config_dir

    return Path(user_config_dir("workflow-builder")) / "profiles.json"


def _read_all(path: Path) -> dict[str, dict[str, str]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path} is not JSON ({exc}); run `wfb login` again") from None
    return data if isinstance(data, dict) else {}


def save_profile(name: str, profile: Profile) -> Path:
    """Store `profile` under `name`; the file is readable by its owner only."""
    path = profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    profiles = _read_all(path)
    profiles[name] = {"url": profile.url, "api_key": profile.api_key}
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(profiles, file, indent=2, sort_keys=True)
        file.write("\n")
    os.chmod(temporary, 0o600)  # an older file of the same name may have been wider
    temporary.replace(path)
    return path


def load_profile(name: str | None = None) -> Profile:
    """Return the profile to use: WFB_URL and WFB_API_KEY win over the stored one."""
    name = name or os.environ.get("WFB_PROFILE") or DEFAULT_PROFILE
    stored = _read_all(profiles_path()).get(name, {})
    url = os.environ.get("WFB_URL") or stored.get("url")
    api_key = os.environ.get("WFB_API_KEY") or stored.get("api_key")
    if not url or not api_key:
        missing = " and ".join(
            what for what, value in (("a URL", url), ("an API key", api_key)) if not value
        )
        raise ProfileError(
            f"No server configured (profile {name!r} has no {missing}): run "
            "`wfb login --url URL --api-key KEY` or set WFB_URL and WFB_API_KEY"
        )
    return Profile(url=url.rstrip("/"), api_key=api_key)
