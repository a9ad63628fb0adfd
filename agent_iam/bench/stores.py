"""``POST /token`` on each store, with one and with two uvicorn workers, side by side.

Each configuration is a fresh server subprocess — the IAM alone, quotas off, on a SQLite file
(WAL) or on a PostgreSQL schema of its own (dropped afterwards) — fed the same kind of requests
as the ``iam`` suite's token figure: client_credentials with a fresh private_key_jwt assertion
each, within a task opened beforehand (``task_token``, docs/design.md §3.2; the task check
reads the store too), a ``jti``, the issued token and an audit entry written per request.
With two workers the load generator, the workers and (for PostgreSQL) the database server
share this machine's CPUs: the figures compare the stores on one machine, not a deployment's
capacity.

The PostgreSQL column reads "not available" when no server answers at
``AGENT_IAM_BENCH_PG`` (default ``postgresql://127.0.0.1:5432/test``).

Entry point of a server: ``python -m agent_iam.bench.stores DIR PORT WORKERS STORE``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent_iam.bench.harness import Figure, Settings
from agent_iam.bench.load import LoadResult, load
from agent_iam.bench.servers import ServerProcess, free_port, running

SUITE = "stores"
PG_ENV = "AGENT_IAM_BENCH_PG"
DEFAULT_PG = "postgresql://127.0.0.1:5432/test"
SETTINGS_ENV = "AGENT_IAM_BENCH_STORE_SETTINGS"


def pg_server() -> tuple[str | None, str]:
    """The PostgreSQL URL to measure on, or None and why not."""
    url = os.environ.get(PG_ENV, DEFAULT_PG)
    try:
        import psycopg
    except ImportError:
        return None, "psycopg not installed (pip install '.[postgres]')"
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return None, f"no server at {url}: {str(exc).strip().splitlines()[0][:80]}"
    return url, ""


def _measure(folder: Path, store: str, workers: int, settings: Settings) -> LoadResult:
    from agent_iam.bench.iam import token_requests
    from agents.keystore import AgentKeyStore
    from iam_core.seed import DEMO_AGENTS

    folder.mkdir(parents=True)
    keystore = AgentKeyStore(folder / "agent-keys")
    for spec in DEMO_AGENTS:  # the server's IAM registers these very public keys
        keystore.private_key(spec.id)
    port = free_port()
    command = [sys.executable, "-m", "agent_iam.bench.stores", str(folder), str(port)]
    server = ServerProcess(f"token-{workers}w", [*command, str(workers), store], port, folder)
    timed, warm = settings.count(6_000, 1_500, minimum=20), settings.count(600, 300)
    with running(server):
        requests = token_requests(folder, port, warm + timed)
        result = load("POST /token", port, requests[warm:], requests[:warm])
    if result.errors:
        raise RuntimeError(f"POST /token failed: {result.errors} {result.error_sample}")
    return result


def run(settings: Settings) -> list[Figure]:
    url, why = pg_server()
    results: dict[tuple[str, int], LoadResult | None] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stores-") as tmp:
        for workers in (1, 2):
            folder = Path(tmp) / f"sqlite-{workers}"
            results["sqlite", workers] = _measure(folder, str(folder / "iam.db"), workers, settings)
            if url is None:
                results["postgresql", workers] = None
                continue
            from iam_core.store_pg import create_scratch_schema, drop_schema

            schema, scratch = create_scratch_schema(url, prefix="bench")
            try:
                results["postgresql", workers] = _measure(
                    Path(tmp) / f"pg-{workers}", scratch, workers, settings
                )
            finally:
                drop_schema(url, schema)
    return [_figure(workers, results, why) for workers in (1, 2)]


def _figure(workers: int, results: dict[tuple[str, int], LoadResult | None], why: str) -> Figure:
    lite, pg = results["sqlite", workers], results["postgresql", workers]
    assert lite is not None
    pg_text = "not available" if pg is None else f"{pg.rps:,.0f} tokens/s, p50 {pg.p50_ms:.1f} ms"
    values: dict[str, Any] = {"sqlite": lite.__dict__, "postgresql": pg and pg.__dict__}
    if pg is None:
        values["postgresql_unavailable"] = why
    return Figure(
        SUITE,
        f"POST /token, {workers} worker{'s' if workers > 1 else ''}: SQLite | PostgreSQL",
        f"SQLite {lite.rps:,.0f} tokens/s, p50 {lite.p50_ms:.1f} ms",
        f"PostgreSQL {pg_text}" + ("" if pg is not None else f" ({why})"),
        f"{lite.rps:,.0f} | {'n/a' if pg is None else f'{pg.rps:,.0f}'}",
        "side by side",
        None,
        values,
    )


# -- the server subprocess ----------------------------------------------------------------
def worker_app() -> Any:
    """One worker: the IAM on the store named by the parent, quotas off."""
    from agents.keystore import AgentKeyStore
    from iam_core.server import create_app
    from scenarios.deployment import build_iam

    settings = json.loads(os.environ[SETTINGS_ENV])
    folder = Path(settings["folder"])
    keystore = AgentKeyStore(folder / "agent-keys")
    iam = build_iam(settings["store"], issuer=settings["issuer"], keystore=keystore, quotas=False)
    return create_app(iam)


def main(argv: list[str]) -> None:
    import uvicorn

    from agent_iam.bench.apps import HTTP, LOOP

    folder, port, workers, store = Path(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    os.environ["AGENT_IAM_HOME"] = str(folder)  # the audit key and witness of a URL store
    settings = {"folder": str(folder), "store": store, "issuer": f"http://127.0.0.1:{port}"}
    os.environ[SETTINGS_ENV] = json.dumps(settings)
    worker_app().state  # noqa: B018 -- built once first: schema, keys and demo world exist
    uvicorn.run(
        "agent_iam.bench.stores:worker_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        loop=LOOP,
        http=HTTP,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
