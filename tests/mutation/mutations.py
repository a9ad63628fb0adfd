"""The table of mutations: each removes (or weakens) one check, by an exact source edit.

``snippet`` must occur exactly once in ``file`` (tests/mutation/test_table.py checks it, so
the table cannot rot silently when the code changes); ``replacement`` takes its place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    snippet: str
    replacement: str


GUARD = "hotel/guard.py"
ACCESS = "hotel/access.py"
POLICY = "iam_core/policy.py"
TOKENS = "iam_core/tokens.py"


def _off(name: str, file: str, condition: str) -> Mutation:
    """The check ``if <condition>:`` never fires."""
    return Mutation(name, file, f"if {condition}:", "if False:")


MUTATIONS: tuple[Mutation, ...] = (
    # -- hotel/guard.py: the guard every route uses ------------------------------------
    _off("guard: no token", GUARD, "raw is None"),
    _off(
        "guard: audience",
        GUARD,
        'not audience_matches(token.claims["aud"], self.audience)',
    ),
    Mutation(
        "guard: expiry of a cached token",
        GUARD,
        "elif token.exp <= self._clock.now() - self._leeway:",
        "elif False:",
    ),
    _off("guard: revocation", GUARD, "revoked is not None"),
    _off("guard: bound token sent as Bearer", GUARD, 'bound and scheme != "dpop"'),
    _off("guard: DPoP scheme for a bearer token", GUARD, 'not bound and scheme == "dpop"'),
    Mutation("guard: DPoP key binding", GUARD, "check_binding(token.claims, proof)", "pass"),
    _off("guard: token type", GUARD, "kind not in rule.kinds"),
    _off(
        "guard: App client",
        GUARD,
        "kind is TokenType.APP and rule.clients is not None and token.sub not in rule.clients",
    ),
    _off("guard: delegation depth", GUARD, "len(token.actors) > policy.max_delegation_depth"),
    _off(
        "guard: acting agent",
        GUARD,
        "token.actors and agent_roles is not None and not token.actor_roles & agent_roles",
    ),
    _off("guard: role", GUARD, "rule.by_role and not holds_role_for(token, rule.scope, policy)"),
    _off("guard: scope", GUARD, "rule.scope not in token.scopes"),
    Mutation("guard: object owner", ACCESS, "if self.sub == owner:", "if True:"),
    Mutation(
        "guard: staff access only where allowed",
        ACCESS,
        "elif staff_scope and holds_role_for(self.token, staff_scope, self.guard.policy):",
        'elif holds_role_for(self.token, staff_scope or "booking:modify", self.guard.policy):',
    ),
    Mutation(
        "guard: staff means a human with a staff role",
        ACCESS,
        "return token.token_type in HUMAN and any(",
        "return any(",
    ),
    # -- iam_core/policy.py: the delegation rules ----------------------------------------
    Mutation(
        "policy: OBO ∩ user's scopes",
        POLICY,
        "return requested & self.user_scopes(user_roles) & agent_delegable & consented",
        "return requested & agent_delegable & consented",
    ),
    Mutation(
        "policy: OBO ∩ agent's delegable",
        POLICY,
        "return requested & self.user_scopes(user_roles) & agent_delegable & consented",
        "return requested & self.user_scopes(user_roles) & consented",
    ),
    Mutation(
        "policy: OBO ∩ consent",
        POLICY,
        "return requested & self.user_scopes(user_roles) & agent_delegable & consented",
        "return requested & self.user_scopes(user_roles) & agent_delegable",
    ),
    Mutation(
        "policy: hop ∩ subject token's scope",
        POLICY,
        "return requested & subject_scope & actor_delegable",
        "return requested & actor_delegable",
    ),
    Mutation(
        "policy: hop ∩ new actor's delegable",
        POLICY,
        "return requested & subject_scope & actor_delegable",
        "return requested & subject_scope",
    ),
    Mutation(
        "policy: autonomous scope",
        POLICY,
        "return requested & autonomous",
        "return requested",
    ),
    Mutation(
        "policy: maximum depth",
        POLICY,
        "return len(act_chain(act)) <= self.max_delegation_depth",
        "return True",
    ),
    Mutation(
        "policy: role → scopes",
        POLICY,
        "granted |= self.role_scopes.get(role, frozenset())",
        "granted |= frozenset().union(*self.role_scopes.values())",
    ),
    _off("policy: scope syntax", POLICY, "any(not _SCOPE_TOKEN.fullmatch(t) for t in tokens)"),
    # -- iam_core/tokens.py: verification -----------------------------------------------
    _off("tokens: size limit", TOKENS, "not isinstance(token, str) or len(token) > max_length"),
    _off("tokens: three base64url segments", TOKENS, "not _COMPACT_JWS.fullmatch(token)"),
    _off(
        "tokens: canonical base64url",
        TOKENS,
        'base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != segment',
    ),
    _off(
        "tokens: JSON objects",
        TOKENS,
        "not isinstance(header, dict) or not isinstance(claims, dict)",
    ),
    _off("tokens: alg pinned by the key", TOKENS, 'self.header.get("alg") != key.alg'),
    _off(
        "tokens: signature",
        TOKENS,
        "not _ALGORITHMS[key.alg].verify(self.signing_input, key.key, self.signature)",
    ),
    _off("tokens: typ", TOKENS, 'typ not in (ACCESS_TOKEN_TYP, "application/" + ACCESS_TOKEN_TYP)'),
    _off("tokens: alg allow-list", TOKENS, 'header.get("alg") not in SUPPORTED_ALGS'),
    _off("tokens: kid present", TOKENS, 'not isinstance(header.get("kid"), str)'),
    Mutation(
        "tokens: jku/x5u/jwk/x5c/crit refused",
        TOKENS,
        "            if name in header:\n",
        "            if False:\n",
    ),
    Mutation(
        "tokens: unknown kid",
        TOKENS,
        '        if key is None:\n            raise TokenError(f"unknown kid',
        '        if False:\n            raise TokenError(f"unknown kid',
    ),
    Mutation(
        "tokens: required claims",
        TOKENS,
        "            if name not in claims:\n",
        "            if False:\n",
    ),
    _off("tokens: issuer", TOKENS, 'claims["iss"] != self.issuer'),
    _off(
        "tokens: audience (IAM-side verification)",
        TOKENS,
        'audience is not None and not audience_matches(claims["aud"], audience)',
    ),
    _off(
        "tokens: sub/jti/client_id strings",
        TOKENS,
        "not isinstance(claims[name], str) or not claims[name]",
    ),
    _off(
        "tokens: NumericDate",
        TOKENS,
        "name in claims and not isinstance(claims[name], (int, float))",
    ),
    _off("tokens: exp", TOKENS, 'claims["exp"] <= now - self.leeway'),
    _off("tokens: nbf", TOKENS, 'claims.get("nbf", 0) > now + self.leeway'),
    _off("tokens: iat", TOKENS, 'claims["iat"] > now + self.leeway'),
    _off("tokens: scope is a string", TOKENS, 'not isinstance(claims.get("scope", ""), str)'),
    _off("tokens: act shape", TOKENS, "act is not None and not _valid_act(act)"),
    Mutation(
        "tokens: aut/act/sub consistency",
        TOKENS,
        'if aut == "AGENT" and act is None and claims.get("sub") == claims.get("client_id"):',
        'if aut == "AGENT":',
    ),
    Mutation(
        "tokens: aud array must name the audience",
        TOKENS,
        "return isinstance(aud, list) and all(isinstance(a, str) for a in aud) and expected in aud",
        "return isinstance(aud, list)",
    ),
)
