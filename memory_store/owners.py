"""Naming what a process leaves while it works (a staging namespace, a partial backup folder) after
that process, so that a later one removes it only once its owner has ended."""

from __future__ import annotations

import os
import socket


def owner_tag() -> str:
    """This process, as `PID@HOST`."""
    return f"{os.getpid()}@{socket.gethostname()}"


def has_ended(tag: str) -> bool:
    """Whether the process a tag names (`PID@HOST`, or a bare PID of this machine) has ended.

    A process of another machine cannot be checked from here, so it never counts as ended."""
    pid, _, host = tag.partition("@")
    if (host and host != socket.gethostname()) or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, under another user
        return False
    return False
