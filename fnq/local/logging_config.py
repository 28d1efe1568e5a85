"""Logging of the local stack's processes (`fn start`, `fn worker`): their own lines on stderr,
the libraries' chatter turned down."""

from __future__ import annotations

import logging
import sys
import warnings


def configure_logging(label: str) -> None:
    """Log INFO and up to stderr as `<label> LEVEL message` (`label` may use logging's fields)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=f"{label} %(levelname)s %(message)s")
    # Chalice sets its app's logger ("fnq", the app name) to ERROR unless in debug mode; this
    # package's loggers (fnq.local.*) sit below it and would inherit that.
    logging.getLogger("fnq.local").setLevel(logging.INFO)
    # One line per request to the embedded AWS would drown the API's own request log.
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "Connection pool is full, discarding connection": more threads than botocore's pool (10)
    # used one client at once; the extra connection is closed and the next request opens one.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    # moto's CloudFormation names every template resource it only records (bucket policies and
    # the like); they do not change what the local stack does.
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"moto\.")
