"""Run every benchmark in benchmarks/ (each bench_*.py, one after another, each in its own
process so that one's imports and threads do not disturb the next) and print their tables.

    .venv/bin/python benchmarks/run_all.py [--quick]

--quick passes each benchmark its own short option where it has one. Exit status: the number
of benchmarks that failed (0 when all ran).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = {"bench_training.py": ["--quick"]}  # the others are short already


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short variants where a benchmark has one")
    args = parser.parse_args()
    print(f"# lrviz benchmarks, {datetime.date.today()}, {machine()}")
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        extra = QUICK.get(script.name, []) if args.quick else []
        print(f"\n## {script.name} {' '.join(extra)}".rstrip() + "\n", flush=True)
        start = time.perf_counter()
        code = subprocess.run([sys.executable, str(script), *extra], cwd=HERE.parent).returncode
        took = time.perf_counter() - start
        print(f"\n({script.name}: exit {code}, {took:.0f} s)", flush=True)
        if code:
            failed.append(script.name)
    print("\nAll benchmarks ran." if not failed else f"\nFailed: {', '.join(failed)}")
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
