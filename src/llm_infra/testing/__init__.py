"""Public test doubles and conformance suites for code built on llm-infra.

``FakeClock`` drives every time-dependent component without sleeping.
"""

from llm_infra.testing._audit import AuditCapture as AuditCapture
from llm_infra.testing._audit import capture_audit as capture_audit
from llm_infra.testing._clock import FakeClock as FakeClock

__all__ = ["AuditCapture", "FakeClock", "capture_audit"]
