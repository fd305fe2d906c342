"""``python -m sentinel`` is the ``sentinel`` command."""

from sentinel.cli import app

app(prog_name="sentinel")
