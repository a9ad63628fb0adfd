"""Service-to-service calls: the booking service holds rooms at availability as itself.

It authenticates with its own App token (``client_credentials`` as ``booking-backend``,
audience = the availability service), cached until shortly before it expires — never with
the caller's token, which is for the booking service alone (RFC 8707). In the baseline it
uses the shared API key, as such deployments do.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from datetime import date
from typing import Any, Protocol

import httpx

from hotel.world import Invalid, NotFound, Unavailable, WorldError


class UpstreamRefused(WorldError):
    """Availability refused the booking backend itself: a deployment fault, not the caller's."""

    code, status = "upstream_refused", 502


class Credentials(Protocol):
    async def headers(self) -> Mapping[str, str]: ...


class AppToken:
    """An App token for one audience, refreshed before it expires."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        issuer: str,
        client_id: str,
        secret: str,
        *,
        resource: str,
        scope: str,
    ) -> None:
        self._http = http
        self._token_endpoint = f"{issuer.rstrip('/')}/token"
        self._basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        self._form = {"grant_type": "client_credentials", "resource": resource, "scope": scope}
        self._token: str | None = None
        self._expires = 0.0

    def reset_state(self) -> None:
        self._token, self._expires = None, 0.0  # a token of the last run's IAM state

    async def headers(self) -> Mapping[str, str]:
        if self._token is None or time.time() > self._expires - 30:
            response = await self._http.post(
                self._token_endpoint,
                data=self._form,
                headers={"Authorization": f"Basic {self._basic}"},
            )
            response.raise_for_status()
            body = response.json()
            self._token = str(body["access_token"])
            self._expires = time.time() + float(body["expires_in"])
        return {"Authorization": f"Bearer {self._token}"}


class SharedKey:
    """The baseline's credentials: one API key, and a name."""

    def __init__(self, api_key: str, user: str) -> None:
        self._headers = {"Authorization": f"Bearer {api_key}", "X-User": user}

    async def headers(self) -> Mapping[str, str]:
        return self._headers


class AvailabilityClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, credentials: Credentials) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._credentials = credentials

    async def hold(
        self,
        hotel_id: str,
        room_type: str,
        check_in: date,
        check_out: date,
        holder: str,
        traceparent: str | None,
    ) -> dict[str, Any]:
        headers = dict(await self._credentials.headers())
        if traceparent:
            headers["traceparent"] = traceparent
        response = await self._http.post(
            f"{self._base}/holds",
            headers=headers,
            json={
                "hotel_id": hotel_id,
                "room_type": room_type,
                "holder": holder,
                "check_in": check_in.isoformat(),
                "check_out": check_out.isoformat(),
            },
        )
        if response.status_code < 400:
            return dict(response.json())
        message = str(response.json().get("error_description", "refused"))
        errors: dict[int, type[WorldError]] = {
            404: NotFound,
            409: Unavailable,
            400: Invalid,
            422: Invalid,
        }
        raise errors.get(response.status_code, UpstreamRefused)(f"hold refused: {message}")
