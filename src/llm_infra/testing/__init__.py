"""Public test doubles and conformance suites for code built on llm-infra.

``FakeClock`` drives every time-dependent component without sleeping.
"""

from llm_infra.testing._audit import AuditCapture as AuditCapture
from llm_infra.testing._audit import capture_audit as capture_audit
from llm_infra.testing._clock import FakeClock as FakeClock
from llm_infra.resilience import is_testing as is_testing
from llm_infra.resilience import set_testing as set_testing

__all__ = ["AuditCapture", "FakeClock", "capture_audit", "is_testing", "set_testing"]
