"""Row 7: a sync call through `fn start`'s whole HTTP path (API, AWS requests on the embedded moto
server, the function), hot `json` against cold `default`, on one `fn start` started for the row."""

from __future__ import annotations

import time
from pathlib import Path

from bench.functions import NOOP, NOOP_HOT, python_function
from bench.load import Api, deploy_route, local_stack
from bench.report import TIMES, Line, interleaved, median, ms, ratio, timed
from bench.sizes import Sizes


def measure(sizes: Sizes, workdir: Path, only: frozenset[str] = frozenset()) -> list[Line]:
    began = time.monotonic()
    with local_stack(workdir) as target:
        started = time.monotonic() - began
        for route, source, fmt in (("hot", NOOP_HOT, "json"), ("cold", NOOP, "default")):
            directory = python_function(workdir / "functions" / route, source, fmt)
            deploy_route(target.api_url, "bench", route, directory, {"type": "sync", "format": fmt})
        api = Api(target.api_url)

        def call(route: str) -> None:
            status, body = api.request("POST", f"/r/bench/{route}", b"", "text/plain")
            if status != 200:
                raise RuntimeError(f"sync call to /{route} answered {status}: {body[:200]!r}")

        try:
            # Warm up: the route cache, the bundles fetched, the hot process started.
            interleaved(3, lambda: timed(lambda: call("hot")), lambda: timed(lambda: call("cold")))
            hot, cold = interleaved(
                sizes.samples, lambda: timed(lambda: call("hot")), lambda: timed(lambda: call("cold"))
            )
        finally:
            api.close()
    return [
        Line(
            "7",
            "sync hot call through `fn start`'s HTTP path vs cold",
            ratio(median(cold), median(hot)),
            f"cold {ms(median(cold))}, hot {ms(median(hot))} (medians of {sizes.samples}, interleaved, "
            f"one keep-alive connection); fn start ready in {started:.1f} s",
            f"≥ 5{TIMES}",
        )
    ]
