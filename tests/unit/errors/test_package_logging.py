"""llm_infra's loggers have a NullHandler: an application without logging configured sees nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging

    import llm_infra.config
    from llm_infra.audit import AuthorizationCheck, MemoryAuditSink, SecurityAuditLog

    logging.getLogger("llm_infra.config").warning("a warning from the library")
    logging.getLogger("llm_infra.audit").error("an error from the library")
    log = SecurityAuditLog([MemoryAuditSink()], flush_interval=None)
    log.log(AuthorizationCheck("alice", "c/1", "vector:read", False))
    log.close()
    print("done")
    """
)


def test_nothing_reaches_stderr_when_logging_is_unconfigured() -> None:
    """Warnings and audit events of llm_infra do not fall through to Python's last-resort handler."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert result.stderr == ""
