"""The `dayone` command: a thin door over app/service.py, one module per group of commands.

common.py holds what every command shares (the Typer app, one-line errors, options, progress bars); index.py
indexes; query.py searches, answers, shows status and tours; serve.py runs the web chat and the MCP server;
evaluate.py measures retrieval and answers; tune.py adapts the embedder and the answering model. Errors the user
can fix print one line on stderr and exit 2; `index` exits 1 when some repository failed while the others
finished. `--json` output goes to stdout alone.
"""

from __future__ import annotations

import logging

from app.doors.cli import evaluate, index, query, serve, tune  # noqa: F401 - importing a module registers its commands
from app.doors.cli.common import app


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
