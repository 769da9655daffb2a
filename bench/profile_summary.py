"""Summarise py-spy's collapsed stacks (`--format raw`, written by WFB_BENCH_PYSPY=<dir>):
`python -m bench.profile_summary FILE...` prints the share of samples per thread and the
functions with the largest inclusive share, to paste into docs/benchmarks.md."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path


def summarise(paths: list[str], top: int = 25) -> str:
    """Return the thread shares and the top inclusive frames of the stacks in `paths`."""
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in Path(path).read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            total += samples
            frames = stack.split(";")
            thread = re.sub(r"\s*\(?0x[0-9a-f]+\)?|\d+", "", frames[0]).strip() or frames[0]
            threads[thread] += samples
            leaves[re.sub(r":\d+\)", ")", frames[-1])] += samples
            for frame in set(frames[1:]):
                name = re.sub(r":\d+\)", ")", frame)
                inclusive[name] += samples
    lines = [f"{total} samples", "", "threads:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in threads.most_common(12)]
    lines += ["", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self (the frame running when sampled):"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in leaves.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarise(sys.argv[1:]))
