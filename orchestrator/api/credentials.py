"""Credentials: write and list names. No route ever returns a value (the lease hands them out)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response, status
from pydantic import BaseModel, Field

from orchestrator import vault
from orchestrator.api.deps import Admin, SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials"])


class CredentialOut(BaseModel):
    name: str
    fields: list[str] = Field(description="the field names only; values are never returned")
    hosts: list[str] | None = Field(None, description="the hosts its secrets may be sent to "
                                                      "(null: any host the worker allows)")
    updated: dt.datetime


@router.put("/{name}", status_code=status.HTTP_204_NO_CONTENT,
            summary="Store or replace a credential (encrypted at rest)")
def put_credential(name: str, session: SessionDep, settings: SettingsDep, caller: Admin,
                   body: Annotated[dict[str, Any], Body(
                       description="{fields: {field name: value}, hosts: [host, ...]}: values "
                                   "are strings; hosts (optional, null: any host the worker "
                                   "allows) are where the secrets may be sent — names, "
                                   "*.suffix, addresses or networks",
                       examples=[{"fields": {"user": "ops01", "password": "..."},
                                  "hosts": ["ebank.bank.cn", "10.0.0.0/8"]}])],
                   ) -> Response:
    # The body is checked here, not by a pydantic model, because a model's 422 echoes the
    # offending input back — which, here, would be the secret.
    fields = body.get("fields")
    if not isinstance(fields, dict) or not {"fields"} <= set(body) <= {"fields", "hosts"}:
        raise HTTPException(422, "send {\"fields\": {\"name\": \"value\", ...}} and, "
                                 "optionally, \"hosts\": [\"host\", ...]; nothing else")
    try:
        vault.put(session, settings, name, fields, body.get("hosts"))
    except vault.BadCredential as err:
        raise HTTPException(422, str(err)) from None
    except vault.VaultKeyError as err:  # the server's key, not the caller's input
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=list[CredentialOut], summary="Credential names and field names")
def list_credentials(session: SessionDep, caller: Admin) -> list[dict[str, object]]:
    return vault.names(session)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a credential")
def delete_credential(name: str, session: SessionDep, caller: Admin) -> Response:
    if not vault.delete(session, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no credential named '{name}'")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
