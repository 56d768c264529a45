"""/api/v1/auth: people log in and get a short-lived bearer token, and log out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from server.auth import service
from server.auth.throttle import LoginThrottle
from server.deps import CurrentPrincipal, NowDep, SessionDep, SettingsDep
from server.errors import BadRequest, ErrorBody, error_responses

router = APIRouter(prefix="/auth", tags=["auth"])
_bearer = HTTPBearer(auto_error=False, description="A person's login token or a device token")


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


def get_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        **error_responses(401),
        429: {
            "model": ErrorBody,
            "description": "Too many failed logins for this username or from this address",
            "headers": {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            },
        },
    },
)
def issue_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    throttle: ThrottleDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=200)],
) -> TokenResponse:
    """OAuth2 password flow: form fields ``username`` and ``password``. After too many failed
    logins for a username or from an address, 429 with ``Retry-After``."""
    issued = service.throttled_login(
        session,
        throttle,
        username,
        password,
        request.client.host if request.client else None,
        settings.access_token_ttl,
        now,
    )
    return TokenResponse(
        access_token=issued.token, expires_in=int(settings.access_token_ttl.total_seconds())
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(400, 401),
)
def logout(
    session: SessionDep,
    now: NowDep,
    principal: CurrentPrincipal,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Response:
    """Revoke the login token this request carries; it is refused from now on."""
    if principal.person is None or credentials is None:
        raise BadRequest("a device token is not logged out; an administrator rotates or revokes it")
    service.revoke(session, credentials.credentials, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
