"""The IAM core against the cryptography it cannot avoid, and the token endpoint over a socket.

* **token mint** — ``iam.minter.mint`` (Agent token: RFC 9068 claims, ``KeyRing.sign``)
  against a complete raw JWS with ``cryptography``: JSON of the same header and claims,
  base64url, ECDSA P-256/SHA-256, DER → raw r‖s, join (the raw token verifies at the IAM);
* **token verify** — ``iam.verifier.verify`` (format, header, signature, iss, aud, times,
  scope, act) against a raw ES256 verify of the same token (signature only);
* **audit verify** — ``AuditLog.verify`` over a log on a file database (chain, checkpoints,
  head seal) against a bare SHA-256 chain over the same entries;
* **POST /token** — client_credentials with a fresh private_key_jwt assertion per request,
  within a task (``task_token``; the tasks opened beforehand, one per ``tokens_per_task``),
  served by one uvicorn worker on a file database (a ``jti``, the issued token and an audit
  entry written per request), against the trivial ASGI app driven by the same client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from agent_iam.bench.apps import AGENT, SCOPE, build_iam_on
from agent_iam.bench.harness import (
    Figure,
    Settings,
    interleaved,
    median_ratio,
    ratio_figure,
    us_per_op,
)
from agent_iam.bench.load import encode_request, load
from agent_iam.bench.servers import ServerProcess, running

SUITE = "iam"
GOALS = {"mint_ratio": 1.3, "verify_ratio": 1.5, "tokens_per_s": 2500.0, "audit_per_s": 300_000.0}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def crypto_figures(iam: Any, settings: Settings) -> list[Figure]:
    """Mint and verify, each interleaved repetition by repetition with its raw twin."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature,
        encode_dss_signature,
    )

    from iam_core.tokens import TokenType

    n, reps = settings.count(1000, 400), settings.count(31, 15, minimum=3)
    audience = f"{iam.issuer}/hotel/availability"
    scopes = frozenset({SCOPE})
    private = iam.keys._current().private  # the IAM's own signing key: raw tokens verify there
    kid = iam.keys._current().kid
    public = private.public_key()
    ecdsa = ec.ECDSA(hashes.SHA256())

    def mint() -> object:
        return iam.minter.mint(
            TokenType.AGENT, sub=AGENT, client_id=AGENT, audience=audience, scopes=scopes
        )

    token, sample = iam.minter.mint(
        TokenType.AGENT, sub=AGENT, client_id=AGENT, audience=audience, scopes=scopes
    )
    header = {"alg": "ES256", "kid": kid, "typ": "at+jwt"}
    claims = dict(sample.claims)

    def raw_sign() -> bytes:
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + b"."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        r, s = decode_dss_signature(private.sign(signing_input, ecdsa))
        return signing_input + b"." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    iam.verifier.verify(raw_sign().decode(), audience=audience)  # the baseline is a real token

    def verify() -> object:
        return iam.verifier.verify(token, audience=audience)

    def raw_verify() -> None:
        signing_input, _, signature = token.rpartition(".")
        sig = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        public.verify(encode_dss_signature(r, s), signing_input.encode("ascii"), ecdsa)

    runs = interleaved(
        {
            "mint": lambda: us_per_op(mint, n),
            "raw_sign": lambda: us_per_op(raw_sign, n),
            "verify": lambda: us_per_op(verify, n),
            "raw_verify": lambda: us_per_op(raw_verify, n),
        },
        reps,
    )
    med = {k: statistics.median(v) for k, v in runs.items()}
    mint_fig = ratio_figure(
        SUITE,
        "token mint (Agent token)",
        med["mint"],
        med["raw_sign"],
        median_ratio(runs["mint"], runs["raw_sign"]),
        against="raw ES256 JWS sign",
        goal=GOALS["mint_ratio"],
        unit="µs",
    )
    verify_fig = ratio_figure(
        SUITE,
        "token verify",
        med["verify"],
        med["raw_verify"],
        median_ratio(runs["verify"], runs["raw_verify"]),
        against="raw ES256 verify",
        goal=GOALS["verify_ratio"],
        unit="µs",
    )
    return [mint_fig, verify_fig]


def audit_figure(iam: Any, settings: Settings) -> Figure:
    """Entries per second ``AuditLog.verify`` checks, and a bare hash chain over the same."""
    from iam_core.audit import AuditEvent

    count = settings.count(20_000, 5_000, minimum=20)
    bodies: list[bytes] = []
    with iam.store.transaction():  # the appends' transactions join this one: one commit
        for i in range(count):
            entry = iam.audit.append(
                AuditEvent("bench.entry", "allowed", "benchmark", sub=AGENT, details={"i": i})
            )
            bodies.append(json.dumps(entry.to_dict(), sort_keys=True).encode())
    total = len(iam.audit)

    def chain() -> float:
        digest = b"\0" * 32
        for body in bodies:
            digest = hashlib.sha256(digest + body).digest()
        return 0.0

    def verify() -> None:
        if not iam.audit.verify().ok:
            raise RuntimeError("the audit log does not verify")

    reps = settings.count(5, 3)
    runs = interleaved(
        {"verify": lambda: us_per_op(verify, 1), "chain": lambda: us_per_op(chain, 1)}, reps
    )
    rate = total / statistics.median(runs["verify"]) * 1e6
    bare = len(bodies) / statistics.median(runs["chain"]) * 1e6
    goal = GOALS["audit_per_s"]
    return Figure(
        SUITE,
        f"audit verify ({total:,} entries, file database)",
        f"{rate:,.0f} entries/s",
        f"bare SHA-256 chain {bare:,.0f} entries/s",
        f"{rate:,.0f}/s",
        f"≥ {goal:,.0f}/s",
        rate >= goal,
        {"entries_per_s": rate, "bare_chain_per_s": bare, "entries": total, "goal": goal},
    )


def open_tasks(issuer: str, count: int) -> list[str]:
    """``count`` task tokens for the agent, asked of the running server as its front door
    (``hotel-chat``) asks them: an agent's own token for a service is issued only within a
    task, at most ``tokens_per_task`` a task (docs/design.md §3.2)."""
    import httpx

    from agents.front_door import FRONT_DOOR, TASK_SCOPE
    from iam_core.seed import DEMO_SECRETS

    form = {"grant_type": "client_credentials", "scope": TASK_SCOPE, "requested_actor": AGENT}
    tasks = []
    with httpx.Client(base_url=issuer, auth=(FRONT_DOOR, DEMO_SECRETS[FRONT_DOOR])) as http:
        for _ in range(count):
            response = http.post("/token", data=form)
            if response.status_code != 200:
                raise RuntimeError(f"opening a task failed: {response.text[:200]}")
            tasks.append(str(response.json()["access_token"]))
    return tasks


def token_requests(folder: Path, port: int, count: int) -> list[bytes]:
    """``count`` POST /token requests, each with a fresh client assertion (a jti counts once),
    within tasks opened beforehand: one task per ``TOKENS_PER_TASK`` requests, so the figure
    includes the task check (``task_token``, docs/design.md §3.2) but not the front door."""
    from agents.keystore import AgentKeyStore
    from agents.oauth import AgentCredentials, OAuthClient
    from iam_core.iam import IAMConfig

    per_task = IAMConfig().tokens_per_task or count
    issuer = f"http://127.0.0.1:{port}"
    tasks = open_tasks(issuer, -(-count // per_task))
    keystore = AgentKeyStore(folder / "agent-keys")
    agent = AgentCredentials(AGENT, keystore.private_key(AGENT), keystore.kid(AGENT))
    oauth = OAuthClient(None, issuer)  # type: ignore[arg-type] # only builds assertions
    form = {
        "grant_type": "client_credentials",
        "scope": SCOPE,
        "resource": f"{issuer}/hotel/availability",
        "client_assertion_type": ASSERTION_TYPE,
    }
    content = [("Content-Type", "application/x-www-form-urlencoded")]
    out = []
    for n in range(count):
        assertion = oauth.client_assertion(agent, lifetime=240)
        body = urlencode(
            {**form, "client_assertion": assertion, "task_token": tasks[n // per_task]}
        )
        out.append(encode_request("POST", port, "/token", content, body.encode()))
    return out


def token_endpoint_figure(folder: Path, settings: Settings) -> Figure:
    from iam_core.seed import DEMO_AGENTS

    timed, warm = settings.count(10_000, 1_500, minimum=20), settings.count(1_000, 300)
    iam_dir, asgi_dir = folder / "iam", folder / "asgi"
    iam_dir.mkdir()
    asgi_dir.mkdir()
    from agents.keystore import AgentKeyStore

    keystore = AgentKeyStore(iam_dir / "agent-keys")
    for spec in DEMO_AGENTS:  # the server's IAM registers these very public keys
        keystore.private_key(spec.id)
    iam_server = ServerProcess.app("iam", iam_dir)
    ceiling = ServerProcess.app("asgi", asgi_dir)
    with running(iam_server, ceiling):
        requests = token_requests(iam_dir, iam_server.port, warm + timed)
        issued = load(
            "POST /token",
            iam_server.port,
            requests[warm:],
            requests[:warm],
            server_cpu=iam_server.cpu_seconds,
        )
        # the trivial app ignores the body: the same bytes measure the client's ceiling
        trivial = load("trivial ASGI", ceiling.port, requests[warm:], requests[:warm])
    if issued.errors:
        raise RuntimeError(f"POST /token failed: {issued.errors} {issued.error_sample}")
    goal = GOALS["tokens_per_s"]
    return Figure(
        SUITE,
        "POST /token, one uvicorn worker (private_key_jwt, audit write)",
        f"{issued.rps:,.0f} tokens/s, p50 {issued.p50_ms:.1f} ms, "
        f"{issued.server_cpu_us_per_ok:,.0f} CPU µs/token",
        f"trivial ASGI app {trivial.rps:,.0f} req/s (client ceiling)",
        f"{issued.rps:,.0f}/s",
        f"≥ {goal:,.0f}/s",
        issued.rps >= goal,
        {"token": issued.__dict__, "ceiling": trivial.__dict__, "goal": goal},
    )


def run(settings: Settings) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-iam-") as tmp:
        folder = Path(tmp)
        (folder / "local").mkdir()
        iam = build_iam_on(folder / "local", "http://127.0.0.1:8000")
        try:
            figures = crypto_figures(iam, settings)
            figures.append(audit_figure(iam, settings))
        finally:
            iam.store.close()
        figures.append(token_endpoint_figure(folder, settings))
    return figures
