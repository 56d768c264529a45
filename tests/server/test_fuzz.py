"""Schemathesis over every operation of the OpenAPI document, as every role and as a device.

One test per database: a fresh test county, a login token for each role and a device token,
then for each operation and each caller a bounded number of generated requests (valid and
invalid; half of them with path parameters naming an item, site, person or device that exists,
so that they get past the 404 into the handlers), sent in-process to the ASGI app. Every
response must be no server error, carry a documented status code and content type, and match
the documented body schema. Failures are collected over all operations and reported together.
HANDOFF_FUZZ_EXAMPLES (default 3) sets the examples per operation and caller for a deeper run.
"""

from __future__ import annotations

import os
import time
import traceback
from datetime import timedelta
from typing import Any, cast

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.python.asgi import ASGIApp, ASGIClient
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


def _known(world: World) -> dict[str, list[str]]:
    """Path values that exist, so that some requests get past the 404 into the handlers.

    Not the callers' own badge or device: a fuzzed DELETE of those would lock the caller out.
    """
    items = [world.box, world.box2, world.tray, world.pack]
    return {
        "barcode": [*items, world.devices["LAB"], world.devices["CSSD"]],
        "ref": ["T02", "LAB", world.sites["T02"]],
        "badge": [world.badges["courier2"], world.badges["cssd2"]],
        "code": ["T02", "LAB"],
    }


def _with_known(case: Any, known: dict[str, list[str]], pick: int) -> None:
    """Half the time, put an existing value into each path parameter that has one."""
    if pick % 2 or not isinstance(case.path_parameters, dict):
        return
    for name in case.path_parameters:
        if values := known.get(name):
            case.path_parameters[name] = values[pick // 2 % len(values)]


def _fuzz(
    cases: st.SearchStrategy[Any], session: ASGIClient, token: str, known: dict[str, list[str]]
) -> tuple[list[str], int]:
    """Send up to EXAMPLES generated requests: the first two failures described, and how many
    requests were sent."""
    seen: list[str] = []
    sent = 0

    @hypothesis.given(case=cases, pick=st.integers(0, 63))
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, pick: int) -> None:
        nonlocal sent
        _with_known(case, known, pick)
        _bounded(case)
        sent += 1
        try:
            case.call_and_validate(
                session=session, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
            )
        except (AssertionError, FailureGroup) as error:
            if len(seen) < 2:
                seen.append(str(error)[:1500])
        except Exception as error:  # the app raised: a 500 in production
            if len(seen) < 2:
                where = traceback.extract_tb(error.__traceback__)[-1]
                seen.append(
                    f"server error {type(error).__name__}: {str(error)[:300]} at "
                    f"{where.filename}:{where.lineno}\n{case.as_curl_command()}"
                )

    run()
    return seen, sent


def test_every_operation_as_every_caller(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    tokens = _tokens(session_factory, world)
    known = _known(world)
    schema = schemathesis.openapi.from_dict(client.app.openapi())  # type: ignore[attr-defined]
    # The TestClient above runs the app's lifespan. Starlette types an app's scope and
    # messages as MutableMapping, schemathesis as dict: the same app either way.
    session = ASGIClient(cast(ASGIApp, client.app))
    failures: list[str] = []
    calls = operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        operations += 1
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
        for caller in CALLERS:
            seen, sent = _fuzz(cases, session, tokens[caller], known)
            calls += sent
            failures += [f"{operation.label} as {caller}:\n{text}" for text in seen]
    elapsed = time.monotonic() - started
    print(f"fuzz: {calls} requests in {elapsed:.1f} s")
    assert operations >= 78 and calls >= operations * len(CALLERS)
    if failures:
        pytest.fail(f"{len(failures)} failures:\n\n" + "\n\n".join(failures), pytrace=False)
