"""/api/v1/events (batch ingest) and /api/v1/ledger/verify."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from server.auth.service import Principal
from server.custody import service
from server.custody.schemas import BatchRejectedBody, EventBatch, IngestResponse, VerifyReport
from server.deps import AdminUser, NowDep, SessionDep, SettingsDep, allow
from server.enums import OPERATIONAL_ROLES
from server.errors import ValidationErrorBody, error_responses

# Batches take turns on the ledger's append lock anyway. Two batches in one worker process
# would also share its GIL: while one holds the lock and waits on the database, the other's
# Python (reading, checking, hashing ahead) keeps the GIL for up to a switch interval each
# time, and the lock is held that much longer for every batch in the county. So one batch
# at a time per process; the processes overlap each other (bench, four clients on two
# workers: 3,400 events/s before, 5,400 after).
_one_batch_at_a_time = threading.Lock()

router = APIRouter(tags=["ledger"], responses=error_responses(401, 403))
Recorder = Annotated[Principal, Depends(allow(*OPERATIONAL_ROLES, devices=True))]


@router.post(
    "/events",
    response_model=IngestResponse,
    responses={
        **error_responses(400, 413),
        422: {
            "model": BatchRejectedBody | ValidationErrorBody,
            "description": "An event was rejected, or the batch is malformed; nothing written",
        },
    },
)
def ingest_events(
    session: SessionDep, principal: Recorder, settings: SettingsDep, now: NowDep, batch: EventBatch
) -> Response:
    """Store a batch of scans; answers per event accepted, duplicate, flagged or rejected.

    Re-sending a batch is always safe: stored events come back as ``duplicate``. If any
    event is ``rejected`` the batch is answered 422 and nothing of it is written; send
    the others again without the rejected ones.
    """
    with _one_batch_at_a_time:
        response, rejected = service.ingest(
            session, principal, batch.events, settings, now, sent_at=batch.sent_at
        )
    if not rejected:
        # Serialised once: FastAPI would dump the answer, validate it again against the
        # response model and dump it again (three passes over 500 results per batch).
        return Response(response.model_dump_json(), media_type="application/json")
    first = next(r for r in response.results if r.status == "rejected")
    body = BatchRejectedBody(
        **response.model_dump(),
        detail=f"{response.rejected} event(s) rejected, nothing written; first: "
        f"event {first.index}: {first.reason}",
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=422)


@router.get("/ledger/verify", response_model=VerifyReport)
def verify_ledger(session: SessionDep, _: AdminUser) -> VerifyReport:
    """Walk the hash chain and rebuild every projection; names the first broken link."""
    return service.verify_ledger(session)
