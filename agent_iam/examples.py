"""An example for each command, shown at the end of ``agent-iam <command> --help``."""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "bench": """examples:
  agent-iam bench --quick                  every suite, small counts (under 2 minutes)
  agent-iam bench iam                      tokens: mint, verify, POST /token
  agent-iam bench hotel --json bench.json  the guard's overhead; figures to a file
  agent-iam bench all --markdown           the README's table""",
    "run": """examples:
  agent-iam run                                every scenario, attack and benign twin
  agent-iam run c01 c04                        scenarios by id or prefix
  agent-iam run -k "consent and not flood"     by keyword (id, title, threats)
  agent-iam run --threat T2 -x                 one threat; stop at the first failure
  agent-iam run --baseline --out runs/         against the shared key; a folder per run
  agent-iam run --json report.json --html report.html
  agent-iam run --injections all               each injection goal in every phrasing style
  agent-iam run --record runs/rec              keep every run's model exchanges …
  agent-iam run --replay runs/rec              … and replay them offline (no model)

Threat ids: T1-T15 (OWASP Agentic AI Threats and Mitigations), LLM01-LLM10 (OWASP Top 10
for LLM Applications 2025), ASI01-ASI10 (OWASP Top 10 for Agentic Applications). Metrics:
attack success rate, utility (benign twins), utility under attack; see the README.""",
    "list": """examples:
  agent-iam list                     a table (plain lines in a pipe)
  agent-iam list --json | jq '.[].id'""",
    "tour": """examples:
  agent-iam tour                     the four token types, revocation and the audit log
  agent-iam tour --json""",
    "serve": """examples:
  agent-iam serve                                  IAM + hotel at http://127.0.0.1:8000
  agent-iam serve --port 9000 --db /tmp/lab/iam.db
  agent-iam serve --baseline                       the services behind one shared key
  agent-iam serve --only booking --issuer http://127.0.0.1:8000 --port 8101""",
    "token": """examples:
  agent-iam token agent --scope availability:read --decode
  agent-iam token app --app booking-backend --scope availability:hold
  agent-iam token user --user alice --scope booking:read
  agent-iam token obo --user alice --scope "booking:create payment:charge"
      (scopes of two services: one token per service, each printed with its audience)
  agent-iam token exchange --user alice --to staff-assistant --scope concierge:request
  agent-iam token obo --server http://127.0.0.1:8000 --scope booking:create""",
    "chat": """examples:
  agent-iam chat --user alice "book the cheapest double in Lisbon for 2 nights"
  agent-iam chat --agent staff-assistant "list today's arrivals"
  agent-iam chat --user alice --record run.jsonl --model gpt-4o-mini "..."
  agent-iam chat --user alice --replay run.jsonl "..."   offline, the recorded answers""",
    "demo": """examples:
  agent-iam demo                     every identity, password, secret, key file, redirect URI
  agent-iam demo --json | jq '.apps[] | {id, redirect_uris}'""",
    "audit": """examples:
  agent-iam audit verify
  agent-iam audit show --agent booking-assistant --limit 20
  agent-iam audit show --user alice --json""",
    "agents": """examples:
  agent-iam agents list
  agent-iam agents block booking-assistant       every token naming it is revoked
  agent-iam agents unblock booking-assistant
  agent-iam agents list --server http://127.0.0.1:8000""",
    "tokens": """examples:
  agent-iam tokens introspect "$TOKEN"           RFC 7662; exit 1 when not active
  agent-iam tokens revoke "$TOKEN"               RFC 7009, as the client it was issued to
  agent-iam token agent --scope availability:read | xargs agent-iam tokens introspect""",
    "keys": """examples:
  agent-iam keys rotate              a new signing key; old tokens verify until they expire""",
    "reset": """examples:
  agent-iam reset                    asks before deleting ./.agent-iam/ state
  agent-iam reset --yes              no question (scripts)""",
}
