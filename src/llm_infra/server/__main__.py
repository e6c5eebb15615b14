"""``python -m llm_infra.server [serve|worker] [--config F] [--host H] [--port P] [--data-dir D]``."""

from __future__ import annotations

import argparse
import sys

from llm_infra.errors import InfraError


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the service (or the worker); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m llm_infra.server", description="The llm-infra retrieval service."
    )
    parser.add_argument("command", nargs="?", choices=("serve", "worker"), default="serve")
    parser.add_argument("--config", help="configuration file (default: ./llm-infra.toml when present)")
    parser.add_argument("--host", help="bind address (server.host)")
    parser.add_argument("--port", type=int, help="TCP port (server.port)")
    parser.add_argument("--data-dir", help="embedded state directory (server.data_dir)")
    args = parser.parse_args(argv)
    from llm_infra.server import run, run_worker

    try:
        if args.command == "worker":
            run_worker(data_dir=args.data_dir, config_file=args.config)
        else:
            run(host=args.host, port=args.port, data_dir=args.data_dir, config_file=args.config)
    except InfraError as err:
        print(f"error {err.code}: {err}", file=sys.stderr)
        for line in err.context.remediation:
            print(f"  hint: {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
