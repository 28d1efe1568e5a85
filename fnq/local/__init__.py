"""The embedded stack for `fn start`: moto server, resources from infra/, event-source poller."""

from pathlib import Path

import chalicelib

# The directory holding the `chalicelib` package (and app.py) this process runs: the processes
# fn start starts (the worker, `fn start -d`'s background stack) run the same code from it.
CODE_ROOT = str(Path(chalicelib.__file__).resolve().parent.parent)
