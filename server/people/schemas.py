"""API shapes for people."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from server.enums import Role
from server.fields import Code, Name, Password, ShortText

EXAMPLE: JsonDict = {
    "name": "王芳",
    "role": "courier",
    "home_site": "CH",
    "username": "wangfang",
    "password": "a long passphrase",
}


class PersonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    name: Name
    role: Role
    home_site: Code | None = Field(None, description="Site code or barcode")
    username: Code | None = Field(None, description="Needed to log in; badge-only staff have none")
    password: Password | None = None
    phone: ShortText | None = None


class PersonUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"role": "dispatcher"}]}
    )

    name: Name | None = None
    role: Role | None = None
    home_site: Code | None = None
    password: Password | None = None
    phone: ShortText | None = None
    active: bool | None = None


class PersonRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    badge: str
    name: str
    role: Role
    home_site_id: uuid.UUID | None
    username: str | None
    phone: str | None
    active: bool
