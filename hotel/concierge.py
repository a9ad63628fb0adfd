"""The concierge service: guest requests, the staff directory, assignments and guest profiles.

* requests — a guest (or an agent for the guest) with ``concierge:request``; a recipient must
  be inside the hotel (a staff id or an ``@hotel.example`` address): nothing is sent outside.
* staff directory and assignments — staff only (``concierge:read``, ``concierge:assign``).
* guest profiles with personal data — staff only (``concierge:pii``), never an agent alone.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from hotel.access import ANY_HOTEL_AGENT, HUMAN, STAFF_AGENT, Access, Guard, Rule, rule_scopes
from hotel.service import service_app
from hotel.world import HotelWorld

HOTEL_DOMAIN = "hotel.example"
# One plain address inside the hotel: no lists, quoting, source routes or second "@".
HOTEL_ADDRESS = re.compile(r"[A-Za-z0-9._-]{1,64}@hotel\.example")

REQUEST = Rule("concierge:request", kinds=HUMAN, agent_roles=ANY_HOTEL_AGENT, objects=True)
MY_REQUESTS = Rule("concierge:request", kinds=HUMAN, agent_roles=ANY_HOTEL_AGENT)
ALL_REQUESTS = Rule("concierge:read", kinds=HUMAN, by_role=True, agent_roles=STAFF_AGENT)
DIRECTORY = Rule("concierge:read", kinds=HUMAN, by_role=True, agent_roles=STAFF_AGENT)
ASSIGN = Rule("concierge:assign", kinds=HUMAN, by_role=True, agent_roles=STAFF_AGENT, objects=True)
PROFILE = Rule("concierge:pii", kinds=HUMAN, by_role=True, agent_roles=STAFF_AGENT, objects=True)
RULES = {
    "request": REQUEST,
    "mine": MY_REQUESTS,
    "all": ALL_REQUESTS,
    "directory": DIRECTORY,
    "assign": ASSIGN,
    "profile": PROFILE,
}

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]


class NewRequest(BaseModel):
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    recipient: Annotated[str | None, Field(max_length=320)] = None


class Assignment(BaseModel):
    staff_id: Id


def create_app(
    world: HotelWorld,
    guard: Guard,
    *,
    resource: str,
    issuer: str,
) -> FastAPI:
    """Recipients are hotel staff or hotel addresses in every deployment profile: a
    business rule, not IAM (issue 14)."""
    app = service_app(
        "concierge",
        resource=resource,
        issuer=issuer,
        scopes=rule_scopes(RULES),
        description="Guest requests; staff directory, assignments, profiles.",
    )
    request_dep: Any = Depends(guard.require(REQUEST))
    mine: Any = Depends(guard.require(MY_REQUESTS))
    all_requests: Any = Depends(guard.require(ALL_REQUESTS))
    directory: Any = Depends(guard.require(DIRECTORY))
    assign: Any = Depends(guard.require(ASSIGN))
    profile: Any = Depends(guard.require(PROFILE))

    @app.post("/requests", status_code=201)
    async def create_request(body: NewRequest, access: Access = request_dep) -> dict[str, Any]:
        if body.recipient is not None:
            staff_ids = {m.id for m in world.staff()}
            if body.recipient not in staff_ids and not HOTEL_ADDRESS.fullmatch(body.recipient):
                # The audit names the recipient's domain only, never the text (it may be PII).
                domain = (
                    body.recipient.rsplit("@", 1)[-1].lower() if "@" in body.recipient else None
                )
                raise access.deny(f"external recipient refused (domain {domain or 'unknown'})")
        access.allow("request inside the hotel")
        created = world.create_request(
            access.sub,
            body.text,
            body.recipient,
            created_by=access.sub,
            acting_agent=access.acting_agent,
        )
        return created.as_dict()

    @app.get("/requests/mine")
    async def my_requests(access: Access = mine) -> dict[str, Any]:
        return {"requests": [r.as_dict() for r in world.requests(access.sub)]}

    @app.get("/requests")
    async def every_request(access: Access = all_requests) -> dict[str, Any]:
        return {"requests": [r.as_dict() for r in world.requests()]}

    @app.get("/staff")
    async def staff(access: Access = directory) -> dict[str, Any]:
        return {"staff": [s.as_dict() for s in world.staff()]}

    @app.post("/requests/{request_id}/assign")
    async def assign_request(
        request_id: Id, body: Assignment, access: Access = assign
    ) -> dict[str, Any]:
        world.request(request_id)
        access.allow("staff assignment", request_id)
        return world.assign(request_id, body.staff_id).as_dict()

    @app.get("/guests/{guest_id}/profile")
    async def guest_profile(guest_id: Id, access: Access = profile) -> dict[str, Any]:
        found = world.guest_profile(guest_id)
        access.allow("staff read of a guest profile", guest_id)
        return found.as_dict()

    return app
