"""``python -m tui`` (what the docker CLI plugin wrapper runs) and the ``docker-sweep`` script.

The docker CLI runs ``docker-sweep docker-cli-plugin-metadata`` for ``docker --help`` and before
every ``docker sweep``: that one is answered here, before the SDK and the planner are imported.
"""

import sys


def main() -> None:
    if sys.argv[1:] == ["docker-cli-plugin-metadata"]:
        from tui.plugin.metadata import print_metadata

        print_metadata()
        return
    from tui.cli import entry

    entry()


if __name__ == "__main__":
    main()
