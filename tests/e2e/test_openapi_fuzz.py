"""schemathesis against the running service's /openapi.json: generated requests never get a 5xx."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from .conftest import ServiceProcess

MAX_EXAMPLES = 25


def test_openapi_has_no_server_errors(service: ServiceProcess) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    with service.client(service.admin_key) as c:
        assert c.post("/v1/collections", json={"name": "fuzz", "dimensions": 3}).status_code == 201
    schema = schemathesis.openapi.from_url(service.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {service.admin_key}"}
    server_errors: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    def fuzz(operation) -> None:  # type: ignore[no-untyped-def]
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case) -> None:  # type: ignore[no-untyped-def]
            if "name" in (case.path_parameters or {}) and case.path_parameters["name"] == "":
                return
            response = case.call(base_url=service.url, headers=headers, timeout=30)
            if response.status_code >= 500:
                server_errors.append(
                    f"{operation.method.upper()} {operation.path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )

        exercise()

    for operation in operations:
        fuzz(operation)
    assert server_errors == [], "\n".join(server_errors)
    assert service.proc is not None
    assert service.proc.poll() is None
