#!/usr/bin/env python
"""Run every benchmark script ``bench/*.py`` (except this one) and summarize their exit codes.

Usage::

    .venv/bin/python bench/run_all.py            # full runs, one script after the other
    .venv/bin/python bench/run_all.py --quick    # passes --quick to every script
    .venv/bin/python bench/run_all.py vector     # only bench/vector.py (names without .py)

Each script runs in its own process with the same interpreter, its output streamed as it
comes. Scripts run as ``python -P`` with ``bench/`` appended (not prepended) to ``sys.path``,
so a script named after a standard-library module (``bench/json.py``, ``bench/http.py``) does
not shadow it, while helper packages such as ``bench/_vector/`` stay importable. The exit code
is 0 only when every script exited 0.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Runs the script as __main__ with bench/ at the *end* of sys.path (see the module docstring).
LAUNCHER = (
    "import runpy, sys; "
    "script = sys.argv[1]; sys.argv = sys.argv[1:]; "
    "sys.path.append({here!r}); "
    "runpy.run_path(script, run_name='__main__')"
)


def scripts(only: list[str]) -> list[Path]:
    """The bench scripts to run, sorted by name."""
    found = sorted(
        p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_")
    )
    if only:
        wanted = {n.removesuffix(".py") for n in only}
        missing = wanted - {p.stem for p in found}
        if missing:
            raise SystemExit(f"no such bench script: {', '.join(sorted(missing))}")
        found = [p for p in found if p.stem in wanted]
    return found


def run(script: Path, quick: bool, timeout: float | None) -> tuple[int, float]:
    """Run one script; return (exit code, seconds). A timeout counts as exit code 124."""
    cmd = [sys.executable, "-P", "-c", LAUNCHER.format(here=str(HERE)), str(script)]
    if quick:
        cmd.append("--quick")
    t0 = time.perf_counter()
    try:
        code = subprocess.run(cmd, check=False, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        code = 124
    return code, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per script (default: none)")
    ap.add_argument("only", nargs="*", help="script names to run (default: all)")
    args = ap.parse_args(argv)
    todo = scripts(args.only)
    if not todo:
        print("no bench scripts found in", HERE)
        return 0
    rows: list[tuple[str, int, float]] = []
    for script in todo:
        print(f"\n===== {script.name}{' --quick' if args.quick else ''} =====", flush=True)
        code, secs = run(script, args.quick, args.timeout)
        rows.append((script.name, code, secs))
    width = max(len(r[0]) for r in rows)
    print("\n===== summary =====")
    print(f"{'script':<{width}}  {'exit':>4}  {'seconds':>8}  result")
    for name, code, secs in rows:
        result = "ok" if code == 0 else ("timeout" if code == 124 else "FAILED")
        print(f"{name:<{width}}  {code:>4}  {secs:>8.1f}  {result}")
    failed = sum(1 for _, code, _ in rows if code != 0)
    print(f"{len(rows) - failed} ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
