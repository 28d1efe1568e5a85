"""`python -m fnq.local [--port N]`: `fn start` without the `fn` command."""

from fnq.cli.start import start

if __name__ == "__main__":
    start(prog_name="fn start")
