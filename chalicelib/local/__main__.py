"""`python -m chalicelib.local [--port N]`: `fn start` without the `fn` command."""

from chalicelib.cli.start import start

if __name__ == "__main__":
    start(prog_name="fn start")
