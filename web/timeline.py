"""The item timeline: scan or type a barcode, see its custody chain and whether it verifies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from labels.identity import InvalidId, parse_id
from server.custody.flags import Flag
from server.custody.messages import render as render_flag
from server.custody.service import verify_ledger
from server.deps import NowDep, SessionDep
from server.enums import Role
from server.errors import HandoffError, UnknownBarcode
from server.items.schemas import CorrectionIn
from server.items.service import CORRECTOR_ROLES, correct_event, custody_chain_by_barcode
from server.lookup import ITEM_KINDS, item_by_barcode
from server.models import Person
from web.i18n import Language, event_label, kind_label, state_label, t
from web.render import language, page_router, render
from web.session import AdminPerson, CsrfChecked, WebUser, web_person

router = page_router()
Scan = Annotated[str, Query(max_length=64)]
# Who may correct a recorded step: the API's rule (administrators always).
Corrector = Annotated[Person, Depends(web_person(*CORRECTOR_ROLES))]


def _answer(session: SessionDep, code: str, lang: Language) -> dict[str, Any]:
    """The chain of the scanned item, or the reason it could not be read."""
    code = code.strip()
    if not code:
        return {"code": "", "chain": None, "error": None}
    try:
        parse_id(code, ITEM_KINDS)
    except InvalidId as invalid:
        flag = Flag(invalid.code, {"field": "item", "detail": invalid.reason, "text": code[:40]})
        return {"code": code, "chain": None, "error": render_flag(flag, lang)}
    try:
        chain = custody_chain_by_barcode(session, code)
    except UnknownBarcode:
        return {"code": code, "chain": None, "error": t(lang, "timeline.no_item", code=code)}
    except HandoffError as error:
        return {"code": code, "chain": None, "error": error.detail}
    flagged = chain.item.open_flags > 0 or any(event.flags for event in chain.events[-1:])
    tone = "bad" if not chain.intact else ("warn" if flagged else "ok")
    return {"code": code, "chain": chain, "error": None, "tone": tone}


def _context(
    request: Request, answer: dict[str, Any], person: Person | None = None
) -> dict[str, Any]:
    lang = language(request)
    return {
        **answer,
        "may_correct": person is not None
        and (person.role == Role.admin or person.role in CORRECTOR_ROLES),
        "event_label": lambda event: event_label(lang, event),
        "kind_label": lambda kind: kind_label(lang, kind),
        "state_label": lambda kind, state: state_label(lang, kind, state),
    }


@router.get("/timeline", response_class=HTMLResponse)
def timeline_page(
    request: Request, session: SessionDep, person: WebUser, code: Scan = ""
) -> Response:
    """The scan box, and the answer for ``?code=`` if given."""
    context = _context(request, _answer(session, code, language(request)), person)
    return render(request, "ui/timeline.html", context, person=person)


@router.get("/timeline/scan", response_class=HTMLResponse)
def timeline_scan(
    request: Request, session: SessionDep, person: WebUser, code: Scan = ""
) -> Response:
    """The answer alone, for the scan box's Enter (HTMX)."""
    context = _context(request, _answer(session, code, language(request)), person)
    return render(request, "ui/_timeline_answer.html", context, person=person)


@router.post("/timeline/correct", response_class=HTMLResponse)
def correct(
    request: Request,
    session: SessionDep,
    person: Corrector,
    now: NowDep,
    _: CsrfChecked,
    code: Annotated[str, Form(max_length=64)],
    event_id: Annotated[str, Form(max_length=64)],
    field: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=200)],
    value: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Correct one recorded step with a reason (the corrections API's service call)."""
    data = CorrectionIn.model_validate(
        {"event_id": event_id, "field": field, "value": value.strip() or None, "reason": reason}
    )
    correct_event(session, person, item_by_barcode(session, code.strip()), data, now)
    context = _context(request, _answer(session, code, language(request)), person)
    return render(request, "ui/_timeline_answer.html", context, person=person)


@router.get("/timeline/verify", response_class=HTMLResponse)
def verify(
    request: Request,
    session: SessionDep,
    person: AdminPerson,
) -> Response:
    """Walk the whole hash chain and the projections (administrators, like the API)."""
    report = verify_ledger(session)
    return render(request, "ui/_verify.html", {"report": report}, person=person)
