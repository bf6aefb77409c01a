"""Property-based fuzzing of the service's OpenAPI schema (schemathesis): whatever a client sends, no
answer is a 500 and every answer matches its documented schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.servers import ServerProcess

pytestmark = pytest.mark.slow

# Cases per API operation: enough to reach every validation path, few enough for the suite.
EXAMPLES = 25


def test_no_answer_is_a_server_error_or_outside_its_schema(server: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    tried, statuses = [], set()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case) -> None:
            response = case.call_and_validate(
                base_url=server.url,
                headers=server.headers(None),
                checks=[not_a_server_error, response_schema_conformance],
            )
            statuses.add(response.status_code)

        fuzz()
        tried.append(operation.label)
    # The fuzzing reached past validation, and was refused by it too.
    assert {200, 201} & statuses and 422 in statuses, statuses
    assert "Traceback" not in server.log(), server.log()[-3000:]
