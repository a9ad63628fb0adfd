"""The HTML pages a person sees: login, consent, account, errors.

Plain server-rendered HTML, every value escaped. The consent page names the client, the
agent that will act (the actor, draft-oauth-ai-agents-on-behalf-of-user-02 §4.2) and each
scope, so a person knows exactly what they delegate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from iam_core.approval_policy import describe
from iam_core.policy import SCOPES

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:38rem;margin:3rem auto;padding:0 1rem;"
    "color:#1d2330}h1{font-size:1.4rem}.box{border:1px solid #ccd;border-radius:8px;"
    "padding:1rem 1.25rem;margin:1rem 0}.actor{background:#fff6e0}.muted{color:#667}"
    "button{padding:.5rem 1.2rem;margin-right:.5rem}label{display:block;margin:.5rem 0}"
    "code{background:#f2f3f7;padding:0 .25rem}"
)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _token(csrf: str) -> str:
    """The anti-CSRF token field (``csrf.py``)."""
    return f"<input type=hidden name=csrf value='{escape(csrf, quote=True)}'>"


def login_page(
    request_id: str, client_name: str, error: str | None = None, *, csrf: str = ""
) -> str:
    alert = f"<p class=box role=alert>{escape(error)}</p>" if error else ""
    return _page(
        "Sign in",
        f"<p>Sign in to continue to <b>{escape(client_name)}</b>.</p>{alert}"
        "<form method=post action=/login>"
        f"<input type=hidden name=request_id value='{escape(request_id, quote=True)}'>"
        f"{_token(csrf)}<label>User id <input name=username autocomplete=username required></label>"
        "<label>Password <input name=password type=password autocomplete=current-password"
        " required></label><button type=submit>Sign in</button></form>",
    )


def _scope_list(scopes: Iterable[str]) -> str:
    items = "".join(
        f"<li><code>{escape(s)}</code> — {escape(SCOPES.get(s, 'unknown scope'))}</li>"
        for s in sorted(scopes)
    )
    return f"<ul>{items}</ul>" if items else "<p class=muted>none</p>"


def consent_page(
    *,
    request_id: str,
    user: str,
    client_name: str,
    client_id: str,
    actor: Mapping[str, str] | None,
    granted: Iterable[str],
    withheld: Iterable[str],
    authorization_details: Iterable[Mapping[str, Any]],
    csrf: str,
) -> str:
    actor_box = ""
    if actor:
        actor_box = (
            "<div class='box actor'><b>An AI agent will act for you.</b><br>"
            f"Agent: <b>{escape(actor['name'])}</b> (<code>{escape(actor['id'])}</code>),"
            f" run by {escape(actor['owner'])}. Its actions will be recorded as the agent's,"
            " on your behalf, and you can withdraw this consent at any time.</div>"
        )
    # RFC 9396 §2 details in words (the amount, the payee, the dates), never a raw dict.
    details = "".join(f"<li>{escape(describe(d))}</li>" for d in authorization_details)
    details_box = f"<p>Limited to:</p><ul>{details}</ul>" if details else ""
    withheld_list = list(withheld)
    withheld_box = (
        f"<p class=muted>Not available to this request:</p>{_scope_list(withheld_list)}"
        if withheld_list
        else ""
    )
    return _page(
        "Allow access?",
        f"<p>Signed in as <b>{escape(user)}</b>.</p>"
        f"<p><b>{escape(client_name)}</b> (<code>{escape(client_id)}</code>) asks to:</p>"
        f"{actor_box}{_scope_list(granted)}{details_box}{withheld_box}"
        "<form method=post action=/consent>"
        f"<input type=hidden name=request_id value='{escape(request_id, quote=True)}'>"
        f"{_token(csrf)}<button name=decision value=approve type=submit>Allow</button>"
        "<button name=decision value=deny type=submit>Deny</button></form>",
    )


def account_page(user: str, consents: Iterable[Mapping[str, str]], csrf: str) -> str:
    rows = "".join(
        "<div class=box>"
        f"<b>{escape(c['client_id'])}</b>"
        + (f" with agent <b>{escape(c['actor'])}</b>" if c["actor"] else "")
        + f"<br><span class=muted>{escape(c['scopes'])}</span>"
        "<form method=post action=/account/consents/withdraw>"
        f"<input type=hidden name=client_id value='{escape(c['client_id'], quote=True)}'>"
        f"<input type=hidden name=actor value='{escape(c['actor'], quote=True)}'>"
        f"{_token(csrf)}<button type=submit>Withdraw</button></form></div>"
        for c in consents
    )
    # The token also as a page-level meta (the OWASP cheat sheet's pattern for scripts), so
    # that a client finds it even when no consent is listed.
    meta = f"<meta name=csrf-token content='{escape(csrf, quote=True)}'>"
    return _page(f"Consents of {user}", meta + (rows or "<p class=muted>No consents.</p>"))


def error_page(title: str, message: str) -> str:
    return _page(title, f"<p>{escape(message)}</p>")
