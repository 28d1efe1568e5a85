"""Generated hostile requests against `fn start`: bench/hostile.py's generator, a fixed seed, fewer examples.

Every answer must be a 2xx or a 4xx in Fn's envelope (or a function's own answer, which carries
the call's id), no connection may drop, no header may be injected, and afterwards every app, route
and call listed must read back. The longer run is the same generator:
`python -m bench.hostile --requests 20000` (README, "Hostile input").
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import hostile
from tests.e2e.support import serving
from tests.local.support import FnStart, free_port

pytestmark = pytest.mark.e2e

SEED = 1
EXAMPLES = 600  # about 20 s against fn start on two busy cores


@pytest.fixture(scope="module")
def stack() -> Iterator[FnStart]:
    with serving(FnStart(free_port())) as started:
        yield started


def test_generated_hostile_requests_get_4xx_never_5xx_and_every_record_reads_back(stack: FnStart) -> None:
    verdicts = hostile.run(stack.url, EXAMPLES, SEED, token="")
    read = hostile.read_back(stack.url, "", verdicts)

    report = [
        f"{kind}: {len(details)}, e.g. {details[0][:300]}" for kind, details in verdicts.failures.items()
    ]
    assert not verdicts.failures, "\n".join(report)
    assert verdicts.tried == EXAMPLES
    assert read > 0
    # The generator reached the rules, not only the 404s: refusals and acceptances of every kind.
    assert {200, 400, 404, 413, 431} <= set(verdicts.statuses)
