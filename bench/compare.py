"""Two bench tables side by side: `python -m bench.compare before.md after.md`.

Reads the Markdown that `python -m bench --out FILE` writes and prints one table with each row's
figure, the measured value of both runs and the goal, then both runs' headers (date, commit,
machine, load), so a reader sees at once under what conditions each column was taken. Rows are
matched by their number; a row only one run has is shown with "—" on the other side.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    header: list[str]  # the "- date: …" lines
    rows: dict[str, tuple[str, str, str]]  # number -> (figure, measured, goal)


def read_run(path: Path) -> Run:
    header: list[str] = []
    rows: dict[str, tuple[str, str, str]] = {}
    for line in path.read_text().splitlines():
        if line.startswith("- ") and not rows:
            header.append(line[2:])
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        # A table row: number, figure, measured, detail, goal (the header and rule rows are not).
        if len(cells) == 5 and cells[0] not in {"#", "---"} and not cells[0].startswith("-"):
            number, figure, measured, _detail, goal = cells
            rows[number] = (figure, measured, goal)
    if not rows:
        raise ValueError(f"{path}: no bench table in it")
    return Run(header, rows)


def side_by_side(before: Run, after: Run, names: tuple[str, str] = ("before", "after")) -> str:
    numbers = list(before.rows) + [n for n in after.rows if n not in before.rows]
    lines = [
        f"| # | figure | {names[0]} | {names[1]} | goal |",
        "|---|---|---|---|---|",
    ]
    for number in numbers:
        figure, old, goal = before.rows.get(number, ("", "—", ""))
        new_figure, new, new_goal = after.rows.get(number, (figure, "—", goal))
        lines.append(f"| {number} | {new_figure or figure} | {old} | {new} | {new_goal or goal} |")
    lines.append("")
    for name, run in zip(names, (before, after), strict=True):
        lines.append(f"{name}:")
        lines.extend(f"- {entry}" for entry in run.header)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    print(side_by_side(read_run(args.before), read_run(args.after)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
