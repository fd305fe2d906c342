"""The ``sentinel`` command: run the daemon and work the desk. Thin: it parses and prints.

Each module adds its commands to the one root ``app``; importing them here registers
them, in the order ``--help`` lists them.
"""

from sentinel.cli import daemon, desk, problems
from sentinel.cli.common import app

__all__ = ["app", "daemon", "desk", "problems"]
