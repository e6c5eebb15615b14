"""``python -m llm_infra.audit``: operator commands for the hash-chained audit file.

``verify PATH``
    Verify the chain (records and head); exit status 0 when it is whole, 1 otherwise.
``reseal PATH``
    Accept the chain as it is after ``audit.head_missing``: verify every record, write a new head.

The HMAC key is read from the ``LLM_AUDIT_KEY`` environment variable (never from the command
line, where other users could read it).
"""

from __future__ import annotations

import argparse
import os
import sys

from llm_infra.audit._chain import reseal_chain, verify_chain
from llm_infra.errors import InfraError

KEY_VARIABLE = "LLM_AUDIT_KEY"


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m llm_infra.audit", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("verify", "reseal"))
    parser.add_argument("path")
    args = parser.parse_args(argv)
    key = os.environ.get(KEY_VARIABLE)
    if not key:
        print(f"set {KEY_VARIABLE} to the chain's HMAC key", file=sys.stderr)
        return 2
    try:
        if args.command == "verify":
            report = verify_chain(args.path, key)
            print(f"ok={report.ok} records={report.records} reason={report.reason}")
            return 0 if report.ok else 1
        report = reseal_chain(args.path, key)
        print(f"resealed {args.path}: {report.records} records")
        return 0
    except InfraError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess
    sys.exit(main())
