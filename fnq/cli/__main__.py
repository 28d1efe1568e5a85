"""`python -m fnq.cli`: the same `fn`, for checkouts where the console script is not installed."""

from fnq.cli.main import main

main(prog_name="fn")
