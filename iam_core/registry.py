"""The identity registry: users, agents and apps, in SQLite.

Agents are first-class identities beside users and apps: each has an owner, a kind
(interactive or background), a status (active or blocked), roles, the public JWKs it
authenticates with (RFC 7523 private_key_jwt), the scopes it may be *delegated* by a user
and the scopes it may use *on its own*. Their private keys are never stored here.

Passwords are hashed with Argon2id (RFC 9106). App secrets are 256-bit random strings,
so a SHA-256 digest compared in constant time protects them as well as a slow KDF would,
without making every ``client_secret_basic`` request cost tens of milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from iam_core import identifiers
from iam_core.clock import Clock
from iam_core.keys import VerificationKey, verification_key_from_jwk
from iam_core.registry_schema import migrate
from iam_core.store import INTEGRITY_ERRORS, AnyStore

AgentKind = Literal["interactive", "background"]
AgentStatus = Literal["active", "blocked"]
AuthMethod = Literal["none", "client_secret_basic", "private_key_jwt"]

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_CIBA = "urn:openid:params:grant-type:ciba"  # OpenID CIBA Core 1.0 §10.1

# RFC 9106 §4 second recommended option (64 MiB, t=3) for deployments; simulations build
# hundreds of fresh worlds and use a cheaper, still memory-hard setting.
STRONG_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
# In-memory simulations only (tests, scenarios): Argon2id at its cheapest, 1 MiB.
SIMULATION_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

# The stored hash of a user who has no password yet: never a valid Argon2 hash, so no
# password matches it (RFC 7643 §4.1 leaves ``password`` optional).
NO_PASSWORD = "!"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    display_name: str
    roles: tuple[str, ...] = ()
    email: str | None = None
    active: bool = True
    created_at: float = 0.0
    external_id: str | None = None
    # The SCIM name components (RFC 7643 §4.1.1), e.g. givenName, familyName, formatted.
    name: dict[str, str] | None = None
    # Every email address as SCIM holds it (value, type, primary, display); ``email`` is the
    # primary one's value.
    emails: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    display_name: str
    owner: str
    kind: AgentKind = "interactive"
    status: AgentStatus = "active"
    roles: tuple[str, ...] = ()
    jwks: tuple[dict[str, Any], ...] = ()
    delegable: frozenset[str] = frozenset()
    autonomous: frozenset[str] = frozenset()
    created_at: float = 0.0
    external_id: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def verification_keys(self) -> list[VerificationKey]:
        return [verification_key_from_jwk(jwk) for jwk in self.jwks]


@dataclass(frozen=True, slots=True)
class App:
    id: str
    name: str
    confidential: bool
    auth_method: AuthMethod
    grant_types: frozenset[str]
    redirect_uris: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    active: bool = True
    created_at: float = 0.0


class DuplicateIdentity(ValueError):
    """An identity with that id, or one that looks like it, exists already (users, agents and
    apps share one namespace; look-alikes per :func:`iam_core.identifiers.skeleton_key`)."""


def _words(values: Iterable[str]) -> str:
    return " ".join(sorted(values))


def _split(value: str) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Registry:
    """CRUD over users, agents and apps; ids are unique across all three."""

    def __init__(
        self, store: AnyStore, clock: Clock, hasher: PasswordHasher = STRONG_HASHER
    ) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher
        migrate(store)
        # A throwaway hash so that a login for an unknown user costs as much as a real one.
        self._dummy_hash = hasher.hash("no such user")

    # -- shared --------------------------------------------------------------------------
    def lookalike(self, identity: str) -> str | None:
        """The registered id that ``identity`` equals or looks like (TR39 §4), if any."""
        key = identifiers.skeleton_key(identity)
        for table in ("users", "agents", "apps"):
            row = self._store.one(f"SELECT id FROM {table} WHERE skeleton = ?", (key,))  # noqa: S608 - fixed table names
            if row:
                return str(row["id"])
        return None

    def _check_free(self, identity: str) -> str:
        """The key of a new identity's id, which must be canonical and like no other's."""
        if identifiers.canonical(identity) != identity:
            raise identifiers.InvalidIdentifier(f"{identity!r} is not in canonical (NFKC) form")
        existing = self.lookalike(identity)
        if existing == identity:
            raise DuplicateIdentity(f"identity {identity!r} exists already")
        if existing is not None:
            raise DuplicateIdentity(f"identity {identity!r} looks like {existing!r}")
        return identifiers.skeleton_key(identity)

    def _insert(self, table: str, row: dict[str, Any]) -> None:
        """Insert a new identity; the database refuses a look-alike (registry_schema)."""
        with self._store.transaction() as tx:
            row = {**row, "skeleton": self._check_free(row["id"])}
            columns = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            try:
                tx.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))  # noqa: S608 - fixed names
            except INTEGRITY_ERRORS as exc:  # another process registered a look-alike
                raise DuplicateIdentity(f"identity {row['id']!r} or a look-alike exists") from exc

    def login_id(self, username: str) -> str | None:
        """The user a login name designates: NFKC and case-insensitive, nothing looser."""
        name = identifiers.canonical_or_none(username)
        if name is None:
            return None
        key, folded = identifiers.skeleton_key(name), name.casefold()
        row = self._store.one("SELECT id FROM users WHERE skeleton = ?", (key,))
        return str(row["id"]) if row and str(row["id"]).casefold() == folded else None

    def kind_of(self, identity: str) -> Literal["user", "agent", "app"] | None:
        if self.get_user(identity):
            return "user"
        if self.get_agent(identity):
            return "agent"
        if self.get_app(identity):
            return "app"
        return None

    # -- users ---------------------------------------------------------------------------
    def add_user(self, user: User, password: str | None) -> User:
        """Register a user; without a password they cannot log in until one is set."""
        user = replace(user, created_at=user.created_at or self._clock.now())
        password_hash = NO_PASSWORD if password is None else self._hasher.hash(password)
        self._insert("users", {**_user_row(user), "password_hash": password_hash})
        return user

    def get_user(self, user_id: str) -> User | None:
        row = self._store.one("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(row) if row else None

    def users(self) -> list[User]:
        return [_user(r) for r in self._store.all("SELECT * FROM users ORDER BY id")]

    def save_user(self, user: User) -> User:
        row = _user_row(user)
        del row["id"], row["created_at"]
        assignments = ", ".join(f"{column} = ?" for column in row)
        self._store.execute(
            f"UPDATE users SET {assignments} WHERE id = ?",  # noqa: S608 - fixed column names
            (*row.values(), user.id),
        )
        return user

    def set_password(self, user_id: str, password: str) -> None:
        self._store.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?",
            (self._hasher.hash(password), user_id),
        )

    def check_password(self, user_id: str, password: str) -> User | None:
        """The active user whose password this is, or None; same cost for unknown users."""
        user_id = self.login_id(user_id) or user_id
        row = self._store.one("SELECT * FROM users WHERE id = ?", (user_id,))
        stored = row["password_hash"] if row else self._dummy_hash
        if stored == NO_PASSWORD:
            stored = self._dummy_hash
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        user = _user(row) if row else None
        return user if user and user.active else None

    def delete_user(self, user_id: str) -> bool:
        return self._store.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0

    # -- agents --------------------------------------------------------------------------
    def add_agent(self, agent: Agent) -> Agent:
        for jwk in agent.jwks:
            verification_key_from_jwk(jwk)  # refuse keys we could not verify with
        agent = replace(agent, created_at=agent.created_at or self._clock.now())
        self._insert("agents", _agent_row(agent))
        return agent

    def get_agent(self, agent_id: str) -> Agent | None:
        row = self._store.one("SELECT * FROM agents WHERE id = ?", (agent_id,))
        return _agent(row) if row else None

    def agent_roles(self, agent_id: str) -> tuple[str, ...]:
        """The roles of agent ``agent_id`` (none when unknown): one column, not the whole agent
        (its keys are parsed on every token minted otherwise)."""
        row = self._store.one("SELECT roles FROM agents WHERE id = ?", (agent_id,))
        return _split(row["roles"]) if row else ()

    def agents(self) -> list[Agent]:
        return [_agent(r) for r in self._store.all("SELECT * FROM agents ORDER BY id")]

    def save_agent(self, agent: Agent) -> Agent:
        for jwk in agent.jwks:
            verification_key_from_jwk(jwk)
        row = _agent_row(agent)
        del row["id"]
        assignments = ", ".join(f"{column} = ?" for column in row)
        self._store.execute(
            f"UPDATE agents SET {assignments} WHERE id = ?",  # noqa: S608 - fixed column names
            (*row.values(), agent.id),
        )
        return agent

    def delete_agent(self, agent_id: str) -> bool:
        return self._store.execute("DELETE FROM agents WHERE id = ?", (agent_id,)).rowcount > 0

    # -- apps ----------------------------------------------------------------------------
    def add_app(self, app: App, secret: str | None = None) -> App:
        if app.confidential and app.auth_method == "client_secret_basic" and not secret:
            raise ValueError("a confidential client_secret_basic app needs a secret")
        app = replace(app, created_at=app.created_at or self._clock.now())
        self._insert(
            "apps",
            {
                "id": app.id,
                "name": app.name,
                "confidential": int(app.confidential),
                "redirect_uris": json.dumps(list(app.redirect_uris)),
                "grant_types": _words(app.grant_types),
                "auth_method": app.auth_method,
                "scopes": _words(app.scopes),
                "secret_digest": secret_digest(secret) if secret else None,
                "active": int(app.active),
                "created_at": app.created_at,
            },
        )
        return app

    def get_app(self, app_id: str) -> App | None:
        row = self._store.one("SELECT * FROM apps WHERE id = ?", (app_id,))
        return _app(row) if row else None

    def apps(self) -> list[App]:
        return [_app(r) for r in self._store.all("SELECT * FROM apps ORDER BY id")]

    def set_app_active(self, app_id: str, active: bool) -> App:
        """Enable or disable an app: a disabled one authenticates nowhere (check_secret)."""
        if (
            self._store.execute(
                "UPDATE apps SET active = ? WHERE id = ?", (int(active), app_id)
            ).rowcount
            == 0
        ):
            raise KeyError(app_id)
        app = self.get_app(app_id)
        assert app is not None
        return app

    def check_secret(self, app_id: str, secret: str) -> App | None:
        """The active app whose secret this is, compared in constant time."""
        row = self._store.one("SELECT * FROM apps WHERE id = ?", (app_id,))
        expected = (row["secret_digest"] if row else None) or secret_digest("\x00no secret")
        ok = hmac.compare_digest(expected, secret_digest(secret))
        app = _app(row) if row else None
        return app if ok and app and app.active and row and row["secret_digest"] else None


def _user_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "display_name": user.display_name,
        "email": user.email,
        "roles": _words(user.roles),
        "active": int(user.active),
        "created_at": user.created_at,
        "external_id": user.external_id,
        "name": json.dumps(user.name) if user.name else None,
        "emails": json.dumps(list(user.emails)) if user.emails else None,
    }


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        display_name=row["display_name"],
        roles=_split(row["roles"]),
        email=row["email"],
        active=bool(row["active"]),
        created_at=row["created_at"],
        external_id=row["external_id"],
        name=json.loads(row["name"]) if row["name"] else None,
        emails=tuple(json.loads(row["emails"])) if row["emails"] else (),
    )


def _agent_row(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "display_name": agent.display_name,
        "owner": agent.owner,
        "kind": agent.kind,
        "status": agent.status,
        "roles": _words(agent.roles),
        "jwks": json.dumps(list(agent.jwks)),
        "delegable": _words(agent.delegable),
        "autonomous": _words(agent.autonomous),
        "created_at": agent.created_at,
        "external_id": agent.external_id,
    }


def _agent(row: Any) -> Agent:
    return Agent(
        id=row["id"],
        display_name=row["display_name"],
        owner=row["owner"],
        kind=row["kind"],
        status=row["status"],
        roles=_split(row["roles"]),
        jwks=tuple(json.loads(row["jwks"])),
        delegable=frozenset(_split(row["delegable"])),
        autonomous=frozenset(_split(row["autonomous"])),
        created_at=row["created_at"],
        external_id=row["external_id"],
    )


def _app(row: Any) -> App:
    return App(
        id=row["id"],
        name=row["name"],
        confidential=bool(row["confidential"]),
        auth_method=row["auth_method"],
        grant_types=frozenset(_split(row["grant_types"])),
        redirect_uris=tuple(json.loads(row["redirect_uris"])),
        scopes=frozenset(_split(row["scopes"])),
        active=bool(row["active"]),
        created_at=row["created_at"],
    )
