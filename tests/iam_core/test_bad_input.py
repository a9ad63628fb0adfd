"""Bad input gets a precise OAuth-style error, never a 500 or a traceback, and is audited."""

from __future__ import annotations

import pytest

from agents.oauth import pkce_pair
from iam_core.seed import REDIRECT_URIS
from scenarios.deployment import Deployment
from tests.iam_core.helpers import audit, consented_code, sign_in

pytestmark = pytest.mark.anyio
WEB = REDIRECT_URIS["hotel-web"]


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ("grant_type=client_credentials", "application/json", "invalid_request"),
        ("", "application/x-www-form-urlencoded", "invalid_request"),
        (
            "grant_type=password&username=a",
            "application/x-www-form-urlencoded",
            "unsupported_grant_type",
        ),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        ("grant_type=%FF%FE", "application/x-www-form-urlencoded", "invalid_request"),
        (
            "grant_type=client_credentials&client_id=hotel-web&scope=%22bad",
            "application/x-www-form-urlencoded",
            "unauthorized_client",
        ),
        (
            "grant_type=authorization_code&client_id=hotel-web",
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        (
            "grant_type=authorization_code&client_id=hotel-web&code=nope&code_verifier=" + "a" * 43,
            "application/x-www-form-urlencoded",
            "invalid_grant",
        ),
        (
            "grant_type=authorization_code&client_id=hotel-web&code=x&code_verifier=%E2%82%AC",
            "application/x-www-form-urlencoded",
            "invalid_grant",
        ),
        (
            "grant_type=client_credentials&client_assertion_type=x&client_assertion=y",
            "application/x-www-form-urlencoded",
            "invalid_client",
        ),
        (
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A"
            "client-assertion-type%3Ajwt-bearer&client_assertion=not.a.jwt",
            "application/x-www-form-urlencoded",
            "invalid_client",
        ),
    ],
)
async def test_malformed_token_requests_get_the_right_oauth_error(
    dep: Deployment, body: str, content_type: str, error: str
) -> None:
    """RFC 6749 §5.2 codes for each malformation; no 5xx."""
    response = await dep.http.post(
        "/token", content=body.encode("latin-1"), headers={"content-type": content_type}
    )
    assert 400 <= response.status_code < 500
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


async def test_an_oversized_body_is_refused(dep: Deployment) -> None:
    """A 1 MB form is refused with 413 by the streaming body limit, before it is read."""
    response = await dep.http.post(
        "/token",
        content=b"a=" + b"x" * 1_000_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"


async def test_every_refusal_at_the_token_endpoint_is_audited(dep: Deployment) -> None:
    """Once the body is parsed, a refusal always becomes an audit entry."""
    await dep.http.post("/token", data={"grant_type": "password"})
    await dep.http.post("/token", data={"grant_type": "client_credentials", "client_id": "who"})
    reasons = [e.reason.split(":")[0] for e in audit(dep, "token.refused")]
    assert reasons == ["unsupported_grant_type", "invalid_client"]


@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 20_000]
)
async def test_introspecting_garbage_says_inactive(dep: Deployment, token: str) -> None:
    """RFC 7662: anything that is not a live token is simply inactive."""
    form = {"token": token} if token else {"token": "-"}
    status = await dep.oauth.introspect(form["token"], as_app=dep.app("auditor"))
    assert status == {"active": False}


def authorize_params(**overrides: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": "hotel-web",
        "redirect_uri": WEB,
        "scope": "booking:read",
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v != ""}


@pytest.mark.parametrize(
    "overrides",
    [{"client_id": "nobody"}, {"redirect_uri": "https://evil.example/cb"}, {"client_id": ""}],
)
async def test_authorize_never_redirects_to_an_unverified_uri(
    dep: Deployment, overrides: dict[str, str]
) -> None:
    """RFC 6749 §4.1.2.1: unknown client or redirect URI shows an error page instead."""
    response = await dep.http.get("/authorize", params=authorize_params(**overrides))
    assert response.status_code == 400 and "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": ""}, "invalid_scope"),
        ({"requested_actor": "ghost-agent"}, "invalid_request"),
        ({"resource": "https://evil.example/"}, "invalid_target"),
        ({"authorization_details": '[{"type": "teleport"}]'}, "invalid_authorization_details"),
        ({"authorization_details": "{not json"}, "invalid_authorization_details"),
    ],
)
async def test_authorize_errors_are_redirected_with_state_and_iss(
    dep: Deployment, overrides: dict[str, str], error: str
) -> None:
    """Errors after the redirect URI is verified go back to the client (RFC 9207 iss)."""
    response = await dep.http.get("/authorize", params=authorize_params(**overrides))
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(WEB) and f"error={error}" in location
    assert "state=s1" in location and "iss=" in location


async def test_a_wrong_password_shows_the_login_page_again_and_is_audited(
    dep: Deployment,
) -> None:
    """401 with the form, and a login.failed entry that holds no password."""
    start = await dep.http.get("/authorize", params=authorize_params())
    request_id = start.headers["location"].split("request_id=")[1]
    response = await sign_in(dep.http, "alice", "guess-123", request_id)
    assert response.status_code == 401 and "Wrong user id or password" in response.text
    entry = audit(dep, "login.failed")[-1]
    assert entry.sub == "alice" and "guess-123" not in str(entry.to_dict())


async def test_denying_consent_sends_access_denied_to_the_client(dep: Deployment) -> None:
    """The user clicks Deny: the client gets error=access_denied and no code."""
    from agents.oauth import OAuthClientError

    with pytest.raises(OAuthClientError) as info:
        await consented_code(dep, "booking:read", approve=False)
    assert info.value.error == "access_denied"
    assert audit(dep, "consent.denied")[-1].sub == "alice"


async def test_unknown_routes_and_bad_query_values_are_4xx_json(dep: Deployment) -> None:
    """No HTML traceback anywhere."""
    missing = await dep.http.get("/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad = await dep.http.get("/audit", params={"since": "many"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


async def test_refusals_outside_the_token_grants_are_audited_too(dep: Deployment) -> None:
    """A bad content type at /token and an anonymous /introspect both leave an entry."""
    await dep.http.post("/token", content=b"{}", headers={"content-type": "application/json"})
    await dep.http.post("/introspect", data={"token": "x"})
    refused = audit(dep, "request.refused")
    assert [(e.path, e.reason.split(":")[0]) for e in refused] == [
        ("/token", "invalid_request"),
        ("/introspect", "invalid_client"),
    ]


@pytest.mark.parametrize(
    "details",
    [
        '[{"type": "payment"}]',
        '[{"type": "payment", "max_amount_cents": -5}]',
        '[{"type": "payment", "max_amount_cents": true}]',
        '[{"type": "payment", "max_amount_cents": 100, "also": "everything"}]',
        '[{"type": "hotel_booking", "hotel_id": "grand-meridian", "check_in": "soon",'
        ' "check_out": "2026-12-12"}]',
        '[{"type": "hotel_booking", "hotel_id": "grand-meridian"}]',
    ],
)
async def test_authorization_details_must_mean_exactly_what_they_say(
    dep: Deployment, details: str
) -> None:
    """RFC 9396 §5: missing, mistyped or unknown fields are invalid_authorization_details."""
    response = await dep.http.get(
        "/authorize", params=authorize_params(authorization_details=details)
    )
    assert "error=invalid_authorization_details" in response.headers["location"]


FORM_NAMES = [
    "grant_type",
    "client_id",
    "scope",
    "resource",
    "code",
    "code_verifier",
    "redirect_uri",
    "client_assertion",
    "client_assertion_type",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "token",
    "token_type_hint",
]
GRANTS = [
    "client_credentials",
    "authorization_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
]


def test_no_form_sent_to_the_token_introspection_or_revocation_endpoints_gives_a_5xx() -> None:
    """Hypothesis: any mix of known parameters with arbitrary values gets a 4xx JSON error."""
    import asyncio

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from scenarios.deployment import deployment

    values = st.one_of(
        st.sampled_from(GRANTS),
        st.text(max_size=60),
        st.just("eyJhbGciOiJub25lIn0.e30."),
        st.just("a.b.c"),
    )
    forms = st.dictionaries(st.sampled_from(FORM_NAMES), values, max_size=8)
    headers = st.sampled_from(
        [
            {},
            {"Authorization": "Basic Og=="},
            {"Authorization": "Basic !!!"},
            {"DPoP": "x.y.z"},
            {"Authorization": "Basic YXVkaXRvcjp4"},
        ]
    )

    async def run(cases: list[tuple[str, dict[str, str], dict[str, str]]]) -> list[int]:
        async with deployment(in_memory=True) as dep:
            statuses = []
            for path, form, head in cases:
                response = await dep.http.post(path, data=form, headers=head)
                if response.status_code >= 400:
                    assert "error" in response.json()
                statuses.append(response.status_code)
            return statuses

    @settings(max_examples=max(10, settings.default.max_examples // 4))
    @given(
        st.lists(
            st.tuples(st.sampled_from(["/token", "/introspect", "/revoke"]), forms, headers),
            min_size=1,
            max_size=25,
        )
    )
    def check(cases: list[tuple[str, dict[str, str], dict[str, str]]]) -> None:
        assert all(status < 500 for status in asyncio.run(run(cases)))

    check()


def test_no_request_to_the_browser_pages_gives_a_5xx() -> None:
    """Hypothesis: /authorize, /login, /consent and the account pages answer < 500 always."""
    import asyncio

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from scenarios.deployment import deployment

    names = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "requested_actor",
        "resource",
        "authorization_details",
        "request_id",
        "username",
        "password",
        "decision",
        "actor",
    ]
    values = st.one_of(
        st.text(max_size=50),
        st.sampled_from(
            ["code", "hotel-web", "S256", "booking-assistant", "approve", "alice", "[]", "[{}]"]
        ),
    )
    params = st.dictionaries(st.sampled_from(names), values, max_size=9)
    calls = st.tuples(
        st.sampled_from(
            [
                ("GET", "/authorize"),
                ("GET", "/login"),
                ("POST", "/login"),
                ("GET", "/consent"),
                ("POST", "/consent"),
                ("GET", "/account/consents"),
                ("POST", "/account/consents/withdraw"),
            ]
        ),
        params,
    )

    async def run(cases: list[tuple[tuple[str, str], dict[str, str]]]) -> list[int]:
        async with deployment(in_memory=True) as dep:
            statuses = []
            for (method, path), values_ in cases:
                if method == "GET":
                    response = await dep.http.get(path, params=values_)
                else:
                    response = await dep.http.post(path, data=values_)
                statuses.append(response.status_code)
            return statuses

    @settings(max_examples=max(10, settings.default.max_examples // 4))
    @given(st.lists(calls, min_size=1, max_size=20))
    def check(cases: list[tuple[tuple[str, str], dict[str, str]]]) -> None:
        assert all(status < 500 for status in asyncio.run(run(cases)))

    check()


async def test_a_consent_post_without_the_forms_csrf_token_is_refused(dep: Deployment) -> None:
    """A same-site page that knows a request id still cannot approve for the signed-in user."""
    from iam_core.seed import DEMO_PASSWORDS

    start = await dep.http.get("/authorize", params=authorize_params())
    request_id = start.headers["location"].split("request_id=")[1]
    login = await sign_in(dep.http, "alice", DEMO_PASSWORDS["alice"], request_id)
    cookie = {"Cookie": f"iam_session={login.cookies['iam_session']}"}
    dep.http.cookies.clear()
    for forged in ({}, {"csrf": "0" * 64}):
        response = await dep.http.post(
            "/consent",
            headers=cookie,
            data={"request_id": request_id, "decision": "approve", **forged},
        )
        assert response.status_code == 403 and "location" not in response.headers
    assert audit(dep, "consent.refused")[-1].sub == "alice"
    assert dep.iam is not None and dep.iam.consents.for_user("alice") == []
