"""Domain errors carry their HTTP status; one set of handlers renders them as JSON.

The body is always ``{"error": <ClassName>, "detail": <sentence>}`` (plus ``errors`` or
``results`` where a list helps). 422 is kept for payloads that fail validation.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException


class HandoffError(Exception):
    status_code = 400

    def __init__(
        self,
        detail: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}


class BadRequest(HandoffError):
    status_code = 400


class NotAuthenticated(HandoffError):
    status_code = 401


class NotPermitted(HandoffError):
    status_code = 403


class NotFound(HandoffError):
    status_code = 404


class UnknownBarcode(NotFound):
    pass


class Conflict(HandoffError):
    status_code = 409


class PayloadTooLarge(HandoffError):
    status_code = 413


class Unprocessable(HandoffError):
    status_code = 422


class BatchRejected(Unprocessable):
    """At least one event of a batch cannot be stored; nothing of the batch was written."""


class ErrorBody(BaseModel):
    error: str
    detail: str


class FieldError(BaseModel):
    loc: str
    msg: str


class ValidationErrorBody(BaseModel):
    """What a 422 (and a 400 for a body that is not JSON) carries: the first problem in a
    sentence and up to 50 of them by location."""

    error: str
    detail: str
    errors: list[FieldError]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the documented error bodies."""
    return {status: {"model": ErrorBody} for status in statuses}


_JSON = "application/json"


def document_errors(openapi: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the handlers below actually send.

    * FastAPI documents its own 422 shape (``HTTPValidationError``); ours replaces it.
    * A request body that is not JSON (or not a form) is answered 400 wherever a body is read.
    * Error bodies are JSON even where the success is HTML (FastAPI gives them the route's
      media type).
    """
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["HTTPValidationError"] = ValidationErrorBody.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    schemas["HTTPValidationError"]["title"] = "ValidationErrorBody"
    schemas["HTTPValidationError"].pop("$defs", None)
    schemas["FieldError"] = FieldError.model_json_schema()
    schemas.pop("ValidationError", None)
    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema())
    error_body = {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
    for item in openapi.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "requestBody" in operation and "400" not in responses:
                responses["400"] = {
                    "description": "The body is not valid JSON (or not a valid form)",
                    "content": {_JSON: error_body},
                }
            for status, response in responses.items():
                content = response.get("content")
                if not status.startswith(("4", "5")) or not content or _JSON in content:
                    continue
                response["content"] = {_JSON: next(iter(content.values()))}
    return openapi


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _describe_validation(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    listed = []
    for error in errors[:50]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        listed.append({"loc": location or "body", "msg": _short(error.get("msg", ""), 200)})
    if any(error.get("type") == "json_invalid" for error in errors):
        return "the request body is not valid JSON", listed
    first = listed[0] if listed else {"loc": "body", "msg": "invalid"}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first['loc']}: {first['msg']}{more}", listed


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HandoffError)
    async def _domain(_: Request, exc: HandoffError) -> JSONResponse:
        body = {"error": type(exc).__name__, "detail": exc.detail, **exc.extra}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        detail, listed = _describe_validation(errors)
        status = 400 if detail == "the request body is not valid JSON" else 422
        return JSONResponse(
            {"error": "ValidationError", "detail": detail, "errors": listed}, status_code=status
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": "HTTPError", "detail": _short(exc.detail, 300)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        # A safety net: the services check first, so this is a race another request won.
        return JSONResponse(
            {"error": "Conflict", "detail": "a concurrent change conflicted; send it again"},
            status_code=409,
        )

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: OperationalError) -> JSONResponse:
        return JSONResponse(
            {"error": "ServiceUnavailable", "detail": "the database is unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
