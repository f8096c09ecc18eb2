"""docker-sweep's exit codes, for every command (headless, the app, the demo, the docker CLI plugin).

Imports nothing, so that the plugin's light paths (metadata, completion) can use them.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1  # something was blocked or failed
EXIT_USAGE = 2  # bad arguments or filters
EXIT_ENGINE = 3  # engine unreachable, permission denied, or an engine error
EXIT_REFUSED = 4  # a destructive command was not confirmed
EXIT_CONFIG = 5  # the configuration file is invalid
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # the reader of our output went away (e.g. `| head`)
EXIT_INTERNAL = 70  # an unexpected error (a bug): reported in one line, never a traceback

EXIT_CODES = {
    EXIT_OK: "success (a plan was made, or everything in it was done)",
    EXIT_PARTIAL: "some references were blocked, or some engine calls failed",
    EXIT_USAGE: "invalid arguments, filters or references",
    EXIT_ENGINE: "the engine could not be reached or answered an error",
    EXIT_REFUSED: "a destructive command was not confirmed (no --yes and no terminal, or 'no')",
    EXIT_CONFIG: "the configuration file is invalid",
    EXIT_INTERNAL: "unexpected internal error (one line on stderr; DOCKER_SWEEP_DEBUG=1 shows details)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_BROKEN_PIPE: "the output pipe was closed",
}
