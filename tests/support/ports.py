"""Free TCP ports on loopback."""

import socket


def free_port() -> int:
    """A port on 127.0.0.1 the OS just handed out and nothing listens on: connecting to it is
    refused, and a server may bind it (another process could take it first; rarely does)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
