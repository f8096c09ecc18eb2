"""The docker CLI's plugin socket (28.x): the CLI closes it to tell the plugin to stop."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable

SOCKET_ENV = "DOCKER_CLI_PLUGIN_SOCKET"


def _stop_main_thread() -> None:
    """What Ctrl-C does: KeyboardInterrupt in the main thread (interrupting a blocking call)."""
    ident = threading.main_thread().ident
    handler = signal.getsignal(signal.SIGINT)
    if ident is not None and callable(handler):
        signal.pthread_kill(ident, signal.SIGINT)
    else:  # SIGINT ignored or default: there is no Python handler to run, terminate as docker asks
        os.kill(os.getpid(), signal.SIGTERM)


def watch_cli_socket(address: str | None, on_close: Callable[[], None] | None = None) -> bool:
    """Connect to the docker CLI's plugin socket; call ``on_close`` once the CLI closes it.

    The CLI closes it when it is asked to stop (SIGINT/SIGTERM while its stdout is not a terminal);
    the default ``on_close`` then interrupts the main thread like Ctrl-C. Returns whether connected.
    """
    if not address:
        return False
    path = "\0" + address[1:] if address.startswith("@") else address  # "@name": abstract socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return False
    action = on_close or _stop_main_thread

    def wait() -> None:
        try:
            while sock.recv(1):
                pass
        except ConnectionResetError:
            pass  # the CLI closed its listener before accepting us: the same message
        except OSError:
            return
        finally:
            sock.close()
        action()

    threading.Thread(target=wait, name="docker-cli-plugin-socket", daemon=True).start()
    return True
