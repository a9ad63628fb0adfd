"""The apps the benchmarks serve, and their entry point in a server subprocess.

``python -m agent_iam.bench.apps KIND DIR PORT [TOKENS]`` serves, on one uvicorn worker:

* ``asgi`` — the cheapest useful ASGI app (read the body, answer a fixed JSON): the load
  generator's ceiling, so a figure is known not to be the client's limit;
* ``iam`` — the IAM on a file database in ``DIR`` (WAL, the demo world seeded, quotas off);
* ``stack`` — what ``agent-iam serve`` serves (the IAM with the four services under
  ``/hotel``) plus the unguarded twin of availability's hotel route at ``/hotel/plain``;
  ``TOKENS`` + 1 agent tokens for availability are written to ``DIR/tokens.json`` first.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI
from pydantic import Field

AGENT = "booking-assistant"
SCOPE = "availability:read"
HOTEL_ID = "grand-meridian"
LOOP = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
HTTP = "httptools" if importlib.util.find_spec("httptools") else "h11"
TRIVIAL_BODY = b'{"ok":true}'

# The same path parameter validation as availability's route (module level: FastAPI resolves
# the routes' postponed annotations in these globals).
HotelId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


async def trivial_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": TRIVIAL_BODY})


def plain_twin(world: Any, *, issuer: str, resource: str) -> FastAPI:
    """availability's ``GET /hotels/{hotel_id}`` route body with no guard.

    Built on the services' own app factory (the same body limit and exception handlers), so
    only the guard differs between the twin and the real route.
    """
    from hotel.service import service_app

    app = service_app(
        "availability",
        resource=resource,
        issuer=issuer,
        scopes=[SCOPE],
        description="benchmark twin of availability, no guard",
    )

    @app.get("/hotels/{hotel_id}")
    async def hotel(hotel_id: HotelId) -> dict[str, Any]:
        return dict(world.hotel(hotel_id).as_dict())

    return app


def mint_tokens(iam: Any, resource: str, count: int, agent: str = AGENT) -> list[tuple[str, Any]]:
    """``count`` agent tokens for ``resource``, each recorded as issued (so it can be revoked)."""
    from iam_core.tokens import TokenType

    out = []
    with iam.store.transaction():  # record_issued's transactions join this one: one commit
        for _ in range(count):
            raw, token = iam.minter.mint(
                TokenType.AGENT,
                sub=agent,
                client_id=agent,
                audience=resource,
                scopes=frozenset({SCOPE}),
            )
            iam.revocations.record_issued(token)
            out.append((raw, token))
    return out


def build_iam_on(folder: Path, issuer: str) -> Any:
    from agents.keystore import AgentKeyStore
    from scenarios.deployment import build_iam

    keystore = AgentKeyStore(folder / "agent-keys")
    return build_iam(folder / "iam.db", issuer=issuer, keystore=keystore, quotas=False)


def app_of(kind: str, folder: Path, port: int, tokens: int) -> Any:
    if kind == "asgi":
        return trivial_asgi
    from iam_core.server import create_app

    issuer = f"http://127.0.0.1:{port}"
    iam = build_iam_on(folder, issuer)
    if kind == "iam":
        return create_app(iam)
    from starlette.routing import Mount

    from scenarios.deployment import build_stack

    app, hotel, _inner = build_stack(iam)
    resource = hotel.urls["availability"]
    routes = app.router.routes
    at = next(i for i, r in enumerate(routes) if getattr(r, "path", "") == "/hotel/availability")
    twin = plain_twin(hotel.world, issuer=issuer, resource=resource)
    routes.insert(at + 1, Mount("/hotel/plain", twin))  # right after the guarded service
    minted = [raw for raw, _ in mint_tokens(iam, resource, tokens + 1)]
    (folder / "tokens.json").write_text(json.dumps(minted))
    return app


def main(argv: list[str]) -> None:
    import uvicorn

    kind, folder, port = argv[0], Path(argv[1]), int(argv[2])
    tokens = int(argv[3]) if len(argv) > 3 else 0
    app = app_of(kind, folder, port, tokens)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop=LOOP, http=HTTP, log_level="warning"
    )
    config.access_log = False
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(sys.argv[1:])
