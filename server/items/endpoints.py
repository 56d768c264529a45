"""/api/v1/items: registering items, their current state and their custody chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from server.deps import (
    AdminUser,
    BearerCredentials,
    NowDep,
    Reader,
    SessionDep,
    read_in_one_hop,
    require_person,
)
from server.enums import ItemKind
from server.errors import error_responses
from server.items import service
from server.items.schemas import (
    CorrectionIn,
    CorrectionRead,
    CustodyChain,
    ItemCreate,
    ItemRead,
    ItemUpdate,
)
from server.lookup import item_by_barcode, site_by_ref
from server.models import Person

router = APIRouter(prefix="/items", tags=["items"], responses=error_responses(401, 403))
Corrector = Annotated[Person, Depends(require_person(*service.CORRECTOR_ROLES))]


@router.get("", response_model=list[ItemRead], responses=error_responses(404))
def list_items(
    session: SessionDep,
    _: Reader,
    kind: ItemKind | None = None,
    state: Annotated[str | None, Query(max_length=40)] = None,
    site: Annotated[str | None, Query(max_length=64, description="Current site code")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[ItemRead]:
    where = site_by_ref(session, site) if site else None
    items = service.list_items(session, kind, state, where, limit, offset)
    return [service.describe_item(session, item) for item in items]


@router.post(
    "",
    response_model=ItemRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 404, 409, 422),
)
def register_item(session: SessionDep, admin: AdminUser, now: NowDep, data: ItemCreate) -> ItemRead:
    """Register an item; its chain starts with a 'registered' event."""
    return service.describe_item(session, service.register_item(session, admin, data, now))


@router.get("/{barcode}", response_model=ItemRead, responses=error_responses(400, 404))
def get_item(session: SessionDep, _: Reader, barcode: str) -> ItemRead:
    """The item's current state: a projection rebuildable from its events."""
    return service.describe_item(session, item_by_barcode(session, barcode))


@router.patch("/{barcode}", response_model=ItemRead, responses=error_responses(400, 404, 422))
def update_item(session: SessionDep, admin: AdminUser, barcode: str, data: ItemUpdate) -> ItemRead:
    item = service.update_item(session, admin, item_by_barcode(session, barcode), data)
    return service.describe_item(session, item)


@router.delete("/{barcode}", response_model=ItemRead, responses=error_responses(400, 404))
def retire_item(session: SessionDep, admin: AdminUser, barcode: str) -> ItemRead:
    """Items are never deleted (their chain stays); this marks one inactive."""
    item = service.update_item(
        session, admin, item_by_barcode(session, barcode), ItemUpdate(active=False)
    )
    return service.describe_item(session, item)


@router.post(
    "/{barcode}/corrections",
    response_model=CorrectionRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 404, 422),
)
def correct_event(
    session: SessionDep, corrector: Corrector, now: NowDep, barcode: str, data: CorrectionIn
) -> CorrectionRead:
    """Correct a recorded step (wrong operator, wrong note) with a reason: a correction
    event is appended and audited with the value before and after; nothing is changed."""
    return service.correct_event(session, corrector, item_by_barcode(session, barcode), data, now)


@router.get("/{barcode}/custody", response_model=CustodyChain, responses=error_responses(400, 404))
async def custody(request: Request, credentials: BearerCredentials, barcode: str) -> Response:
    """The custody chain: every event of the item in order, with its hashes."""
    # Serialised once, in the worker thread: the chain is built from trusted rows, and
    # FastAPI would otherwise dump it, validate it again against the response model and
    # dump it again.
    body = await read_in_one_hop(
        request,
        credentials,
        lambda session: service.custody_chain_by_barcode(session, barcode).model_dump_json(),
    )
    return Response(body, media_type="application/json")
