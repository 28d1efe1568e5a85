"""`python -m chalicelib.cli`: the same `fn`, for checkouts where the console script is not installed."""

from chalicelib.cli.main import main

main(prog_name="fn")
