"""Run every benchmark module this package knows."""

from __future__ import annotations

import importlib

MODULES = ("bench.compile",)


def main() -> None:
    """Run each benchmark's main() in turn."""
    for name in MODULES:
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
