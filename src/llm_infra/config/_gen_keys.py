"""Regenerate (or ``--check``) the docs key table: ``python -m llm_infra.config._gen_keys FILE...``.

Kept apart from ``_keys`` so that running it with ``-m`` does not re-import an already imported module.
"""

from __future__ import annotations

import sys

from llm_infra.config._keys import render_doc


def main(argv: list[str]) -> int:
    """Regenerate the key table in the Markdown files given (``--check`` only compares)."""
    check = "--check" in argv
    stale = False
    for path in (arg for arg in argv if arg != "--check"):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        fresh = render_doc(text)
        if fresh != text:
            stale = True
            if not check:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(fresh)
    return 1 if (check and stale) else 0


if __name__ == "__main__":  # pragma: no cover - the command-line entry point
    raise SystemExit(main(sys.argv[1:]))
