"""Without the opentelemetry SDK (the otel extra) helpers are no-ops and init_otel says what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, sys, warnings

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.startswith(("opentelemetry.sdk", "opentelemetry.exporter")):
                raise ImportError(name)
            return None

    sys.meta_path.insert(0, Block())
    warnings.simplefilter("error")
    import llm_infra.http
    import llm_infra.otel as otel
    from llm_infra.errors import ConfigError

    with otel.span("work", k=1) as current:
        assert not current.is_recording()
    otel.counter("c").add(1)
    otel.histogram("h").record(0.1)
    with otel.llm_span("chat", "m", "p") as call:
        call.record_tokens(input_tokens=1)
    assert otel.inject({}) == {}
    try:
        otel.init_otel(otel.OtelConfig(service_name="s"))
    except ConfigError as exc:
        assert "pip install 'llm-infra[otel]'" in str(exc), exc
    else:
        raise AssertionError("init_otel needs the SDK")
    assert not [m for m in sys.modules if m.startswith("opentelemetry.sdk")]
    print("ok")
    """
)


def test_helpers_work_and_init_explains_without_the_sdk() -> None:
    """In a process where the SDK cannot be imported, everything but init_otel works as a no-op."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
