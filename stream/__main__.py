"""`python -m stream`: started as `drrn-stream` is, its stop signals heeded while the CLI is imported (a Ctrl-C
there came out as a traceback)."""

from drrn_stream_launcher import main

main()
