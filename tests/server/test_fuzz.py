"""Schemathesis over every operation of the OpenAPI document, as every role and as a device.

One test per database: a fresh test county, a login token for each role and a device token,
then for each operation and each caller a bounded number of generated requests (valid and
invalid), sent in-process to the ASGI app. Every response must be no server error, carry a
documented status code and content type, and match the documented body schema. Failures are
collected over all operations and reported together.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.python.asgi import ASGIClient
from sqlalchemy.orm import Session, sessionmaker

from server.auth.service import login
from server.db import session_scope
from server.enums import Role
from server.models import utc_now
from tests.support.helpers import PASSWORD, World

pytestmark = pytest.mark.slow

# Examples per (operation, caller); HANDOFF_FUZZ_EXAMPLES raises it for a deeper run.
EXAMPLES = int(os.environ.get("HANDOFF_FUZZ_EXAMPLES", "3"))
CALLERS = [role.value for role in Role] + ["device"]
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


def _tokens(factory: sessionmaker[Session], world: World) -> dict[str, str]:
    tokens = {"device": world.device_tokens["T01"]}
    with session_scope(factory) as session:
        for role in Role:
            issued = login(session, role.value, PASSWORD, timedelta(hours=1), utc_now())
            tokens[role.value] = issued.token
    return tokens


def _bounded(case: Any) -> None:
    """Keep a request from running long: the alert stream closes at once, a plan solves
    for a tenth of a second (both otherwise run in the request, up to minutes)."""
    if case.path == "/api/v1/alerts/stream" and isinstance(case.query, dict):
        case.query["seconds"] = 0.05
    if case.path == "/api/v1/plans" and case.method == "POST" and isinstance(case.body, dict):
        case.body["time_limit"] = 0.1


def _fuzz(cases: st.SearchStrategy[Any], session: ASGIClient, token: str) -> list[str]:
    """Send up to EXAMPLES generated requests; the first two failures, described."""
    seen: list[str] = []

    @hypothesis.given(case=cases)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        _bounded(case)
        try:
            case.call_and_validate(
                session=session, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
            )
        except (AssertionError, FailureGroup) as error:
            if len(seen) < 2:
                seen.append(str(error)[:1500])

    run()
    return seen


def test_every_operation_as_every_caller(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    tokens = _tokens(session_factory, world)
    schema = schemathesis.openapi.from_dict(client.app.openapi())  # type: ignore[attr-defined]
    session = ASGIClient(client.app)  # the TestClient above runs the app's lifespan
    failures: list[str] = []
    calls = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
        for caller in CALLERS:
            seen = _fuzz(cases, session, tokens[caller])
            calls += EXAMPLES
            failures += [f"{operation.label} as {caller}:\n{text}" for text in seen]
    elapsed = time.monotonic() - started
    print(f"fuzz: {calls} requests in {elapsed:.1f} s")
    assert calls >= 77 * len(CALLERS)
    if failures:
        pytest.fail(f"{len(failures)} failures:\n\n" + "\n\n".join(failures), pytrace=False)
