"""/api/v1/auth: people log in and get a short-lived bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from pydantic import BaseModel

from server.auth import service
from server.deps import NowDep, SessionDep, SettingsDep
from server.errors import error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@router.post("/token", response_model=TokenResponse, responses=error_responses(401))
def issue_token(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=200)],
) -> TokenResponse:
    """OAuth2 password flow: form fields ``username`` and ``password``."""
    issued = service.login(session, username, password, settings.access_token_ttl, now)
    return TokenResponse(
        access_token=issued.token, expires_in=int(settings.access_token_ttl.total_seconds())
    )
