"""The plugin metadata the docker CLI asks for (``docker-sweep docker-cli-plugin-metadata``).

Light on purpose: the CLI runs it for ``docker --help``, ``docker info`` and before every run.
"""

from __future__ import annotations

import json
from typing import Any

SHORT_DESCRIPTION = "Browse and prune images exactly and safely"
METADATA_SUBCOMMAND = "docker-cli-plugin-metadata"


def metadata() -> dict[str, Any]:
    """The JSON the docker CLI reads from ``docker-sweep docker-cli-plugin-metadata``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("docker-sweep")
    except PackageNotFoundError:  # running from a source tree that is not installed
        ver = "0+unknown"
    return {
        "SchemaVersion": "0.1.0",
        "Vendor": "docker-sweep",
        "Version": ver,
        "ShortDescription": SHORT_DESCRIPTION,
    }


def print_metadata() -> None:
    """Answer ``docker-cli-plugin-metadata`` on stdout."""
    print(json.dumps(metadata(), indent=2), flush=True)
