"""`python -m app.doors.cli`: the same as the `dayone` command."""

from app.doors.cli import main

main()
