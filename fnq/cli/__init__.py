"""The `fn` command line: Fn 0.4.x's commands and output, speaking HTTP to an fnq (or Fn) server.

Nothing here imports boto3 or chalice: the CLI is a plain HTTP client, so it starts fast and works
against any server that speaks Fn's v1 API.
"""
