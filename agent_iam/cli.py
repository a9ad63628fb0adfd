"""``agent-iam``: the command line.

agent-iam run [IDS…] [-k EXPR] [--threat T] [-x] [--out DIR] [--profile P]… [--ladder]
              [--model M]… [--record DIR | --replay DIR]
                                    the attack catalogue with benign twins, per deployment
                                    profile and threat model; its model exchanges recorded
                                    or replayed offline
agent-iam profiles                  the deployment profiles (--baseline = shared-key)
agent-iam list [--json]             the scenarios
agent-iam tour                      obtain the four tokens through the real flows, in memory
agent-iam serve                     the IAM over HTTP (state in ./.agent-iam/)
agent-iam token agent|app|user|obo|exchange …   run one flow and print the token
agent-iam chat --agent A [--user U] "request"   one conversation with an assistant
agent-iam demo [--json]             the demo world and its credentials
agent-iam audit verify|show         check or read the audit log
agent-iam bench [SUITE] [--quick]   the benchmarks, each figure with its goal and baseline
agent-iam agents list|block|unblock, apps list|disable|enable, tokens introspect|revoke,
          keys rotate, reset   operators

Every mistake ends in one line on stderr and exit 2 (usage) or 1 (failure): see
``agent_iam.errors``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

from rich.console import Console

from agent_iam import checks
from agent_iam.errors import UsageError, guarded
from agent_iam.examples import EXAMPLES

console = Console()
err = Console(stderr=True)


class Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake in one line (and a pointer to ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _version() -> str:
    try:
        return version("agent-iam-lab")
    except PackageNotFoundError:
        return "unknown"


def _add(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=EXAMPLES.get(name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


BENCH_SUITES = ("iam", "hotel", "agents", "run", "stores")  # agent_iam.bench.SUITES
STORE_HELP = (
    "a SQLite file or postgresql:// URL (default $AGENT_IAM_STORE, else ./.agent-iam/iam.db)"
)


def _target(parser: argparse.ArgumentParser) -> None:
    """``--server`` or ``--db``: a running IAM, or the local state folder in-process."""
    parser.add_argument("--server", type=checks.url, help="a running IAM's URL")
    parser.add_argument(
        "--db",
        "--store",
        dest="db",
        type=checks.database,
        help=STORE_HELP,
    )


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="agent-iam", description="IAM for AI agents: a lab.")
    parser.add_argument("--version", action="version", version=f"agent-iam {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _add(sub, "run", "run the attack catalogue (with benign twins)")
    run.add_argument("ids", nargs="*", help="scenario ids or prefixes (default: all)")
    run.add_argument(
        "-k",
        dest="keyword",
        metavar="EXPR",
        action="append",
        help="keyword expression (and/or/not); repeated: scenarios matching any",
    )
    run.add_argument("--threat", action="append", help="only scenarios of this threat id")
    run.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    run.add_argument("--out", type=checks.output_dir, help="a folder per run, and the reports")
    run.add_argument(
        "--baseline", action="store_true", help="alias of --profile shared-key (one release)"
    )
    # Deployment profiles and threat models (scenarios/profiles.py, issue 14).
    run.add_argument(
        "--profile", action="append", help="deployment profile (repeatable; agent-iam profiles)"
    )
    run.add_argument(
        "--ladder",
        action="store_true",
        help="every profile, with embedded-obedient and compromised (unless --model)",
    )
    run.add_argument(
        "--model",
        action="append",
        help="model (repeatable): embedded-obedient, embedded-resistant, compromised, or a "
        "real one (default: AGENT_IAM_MODEL/OPENAI_MODEL, as chat)",
    )
    run.add_argument("--seed", type=int, help="world seed (default 0; a replay's: recorded)")
    run.add_argument(
        "--injections",
        metavar="STYLES",
        help="each injection case in every style (all) or these (comma-separated)",
    )
    taping = run.add_mutually_exclusive_group()
    taping.add_argument(
        "--record", type=checks.output_dir, metavar="DIR", help="keep each run's model exchanges"
    )
    taping.add_argument(
        "--replay",
        type=checks.input_dir,
        metavar="DIR",
        help="replay a --record folder offline (no model); its selection unless given",
    )
    run.add_argument("--workers", type=checks.positive, help="processes (default: one per CPU)")
    run.add_argument("--json", type=checks.output_file, help="write the JSON report here")
    run.add_argument("--junit", type=checks.output_file, help="write JUnit XML here")
    run.add_argument("--html", type=checks.output_file, help="write the HTML report here")

    listing = _add(sub, "list", "list the scenarios")
    listing.add_argument("--json", action="store_true", help="print the scenarios as JSON")
    listing.add_argument("--plain", action="store_true", help="tab-separated lines, no table")
    _add(sub, "profiles", "list the deployment profiles")

    tour = _add(sub, "tour", "obtain each token type through the real flows")
    tour.add_argument("--json", action="store_true", help="print the tour as JSON")

    serve = _add(sub, "serve", "run the IAM and the hotel services over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=checks.port, default=8000)
    serve.add_argument(
        "--db",
        "--store",
        dest="db",
        type=checks.database,
        help=STORE_HELP,
    )
    serve.add_argument(
        "--issuer", type=checks.url, help="public issuer URL (default http://HOST:PORT)"
    )
    serve.add_argument(
        "--only",
        choices=["availability", "booking", "payment", "concierge"],
        help="run one hotel service alone against the IAM at --issuer",
    )
    serve.add_argument(
        "--services-base",
        type=checks.url,
        help="with --only: the services' base URL, whose "
        "<service> paths are their audiences (default ISSUER/hotel)",
    )
    serve.add_argument(
        "--baseline", action="store_true", help="services accept one shared API key (no agent IAM)"
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes on one port (state in the db)"
    )

    token = _add(sub, "token", "run one token flow and print the token")
    token.add_argument("kind", choices=["agent", "app", "user", "obo", "exchange"])
    _target(token)
    token.add_argument("--agent", default="booking-assistant")
    token.add_argument("--to", dest="to_agent", help="exchange: the agent of the next hop")
    token.add_argument("--user", default="alice")
    token.add_argument("--app", help="client app (default per kind)")
    token.add_argument("--scope")
    token.add_argument("--resource", help="RFC 8707 resource: a URL or a service name")
    token.add_argument("--subject-token", help="exchange: the subject token (default: run obo)")
    token.add_argument("--json", action="store_true", help="print the whole token response")
    token.add_argument("--decode", action="store_true", help="print the decoded claims too")

    chat = _add(sub, "chat", "one conversation with an assistant, and its transcript")
    chat.add_argument("request", help="what the user asks, in plain English")
    chat.add_argument("--agent", default="booking-assistant")
    chat.add_argument("--user", help="the person who delegates (omit: the agent acts alone)")
    chat.add_argument("--model", help="model name (default embedded-obedient; see README)")
    chat.add_argument(
        "--record", type=checks.output_file, help="record the model's traffic (JSONL)"
    )
    chat.add_argument("--replay", type=checks.input_file, help="replay a recorded model run")
    chat.add_argument("--server", type=checks.url, help="a running deployment's URL")
    chat.add_argument("--baseline", action="store_true", help="services without agent IAM")
    chat.add_argument("--json", action="store_true", help="print the transcript as JSON")

    demo = _add(sub, "demo", "print the demo world and its credentials")
    demo.add_argument("--json", action="store_true")

    audit = _add(sub, "audit", "verify or read the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser("verify", help="check the hash chain and checkpoints")
    verify.add_argument("--db", "--store", dest="db", type=checks.database)
    show = audit_sub.add_parser("show", help="print audit entries")
    show.add_argument("--db", "--store", dest="db", type=checks.database)
    show.add_argument("--agent")
    show.add_argument("--user")
    show.add_argument("--limit", type=checks.positive, default=50)
    show.add_argument("--json", action="store_true")

    agents = _add(sub, "agents", "list, block or unblock agents (SCIM, as iam-admin)")
    agents_sub = agents.add_subparsers(dest="action", required=True, metavar="ACTION")
    agents_list = agents_sub.add_parser("list", help="every registered agent and its status")
    agents_list.add_argument("--json", action="store_true")
    _target(agents_list)
    for action, text in (
        ("block", "block an agent: every token naming it is revoked"),
        ("unblock", "unblock an agent"),
    ):
        one = agents_sub.add_parser(action, help=text)
        one.add_argument("agent")
        _target(one)

    apps = _add(sub, "apps", "list, disable or enable apps (OAuth clients; local state)")
    apps_sub = apps.add_subparsers(dest="action", required=True, metavar="ACTION")
    apps_list = apps_sub.add_parser("list", help="every registered app and its status")
    apps_list.add_argument("--json", action="store_true")
    _target(apps_list)
    for action, text in (
        ("disable", "disable an app: it authenticates nowhere, its tokens are revoked"),
        ("enable", "enable an app again (its revoked tokens stay revoked)"),
    ):
        one = apps_sub.add_parser(action, help=text)
        one.add_argument("app")
        _target(one)

    tokens = _add(sub, "tokens", "introspect or revoke a token")
    tokens_sub = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("introspect", "RFC 7662 introspection"), ("revoke", "RFC 7009")):
        one = tokens_sub.add_parser(action, help=text)
        one.add_argument("token", help="the access token (a JWT)")
        _target(one)

    keys = _add(sub, "keys", "rotate the IAM's signing key")
    keys_sub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    _target(keys_sub.add_parser("rotate", help="a new signing key (local state only)"))

    reset = _add(sub, "reset", "delete the demo world's local state, to start afresh")
    reset.add_argument(
        "--db", type=checks.output_file, help="database (default ./.agent-iam/iam.db)"
    )
    reset.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    # A person answers CIBA approval requests from a terminal (agent_iam/approvals.py).
    appr = _add(sub, "approvals", "list, approve or deny an agent's approval requests")
    appr.add_argument("action", choices=["list", "approve", "deny"])
    appr.add_argument("auth_req_id", nargs="?")
    appr.add_argument("--user", default="alice")
    _target(appr)

    bench = _add(sub, "bench", "run the benchmarks; each figure with its goal")
    bench.add_argument(
        "suite",
        nargs="?",
        default="all",
        choices=["iam", "hotel", "agents", "run", "stores", "all"],
    )
    bench.add_argument("--quick", action="store_true", help="smaller runs (all: < 2 minutes)")
    bench.add_argument(
        "--json", type=checks.output_file, help="write every figure to this JSON file"
    )
    bench.add_argument("--markdown", action="store_true", help="print a markdown table too")
    # (room for more subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return guarded(lambda: _dispatch(_parser().parse_args(argv)))


def _dispatch(args: argparse.Namespace) -> int:
    local = args.command != "reset" and not getattr(args, "only", None)
    if local and "db" in args and getattr(args, "server", None) is None:
        from scenarios.deployment import default_db

        checks.local_state(args.db or default_db(), writing=args.command != "audit")
    command = args.command
    if command in ("run", "list", "profiles"):
        from agent_iam import run

        if command == "profiles":
            return run.list_profiles(console)
        return run.run_command(console, args) if command == "run" else run.list_command(args)
    if command == "tour":
        from agent_iam.tour import run_tour

        return asyncio.run(run_tour(console, as_json=args.json))
    if command == "serve":
        return _serve(args)
    if command == "token":
        from agent_iam.token_cmd import run_token

        return asyncio.run(run_token(args))
    if command == "approvals":
        from agent_iam.approvals import approvals

        return asyncio.run(
            approvals(
                console, args.action, args.user, args.auth_req_id, server=args.server, db=args.db
            )
        )
    if command == "chat":
        return _chat(args)
    if command == "demo":
        from agent_iam.demo import print_demo

        return print_demo(console, as_json=args.json)
    if command == "audit":
        from agent_iam.audit import audit_show, audit_verify

        if args.audit_command == "verify":
            return audit_verify(console, args.db)
        return audit_show(console, args.db, args.agent, args.user, args.limit, args.json)
    if command == "bench":
        from agent_iam.bench import run_bench

        return run_bench(
            console, args.suite, quick=args.quick, json_path=args.json, markdown=args.markdown
        )
    return _admin(args)


def _admin(args: argparse.Namespace) -> int:
    from agent_iam import admin

    target = {"server": getattr(args, "server", None), "db": args.db}
    if args.command == "reset":
        return admin.reset(console, db=args.db, yes=args.yes)
    if args.command == "agents":
        if args.action == "list":
            return asyncio.run(admin.agents_list(console, as_json=args.json, **target))
        status = "blocked" if args.action == "block" else "active"
        return asyncio.run(admin.agents_set_status(console, args.agent, status, **target))
    if args.command == "apps":
        if args.action == "list":
            return asyncio.run(admin.apps_list(console, as_json=args.json, **target))
        active = args.action == "enable"
        return asyncio.run(admin.apps_set_active(console, args.app, active, **target))
    if args.command == "tokens":
        act = admin.tokens_introspect if args.action == "introspect" else admin.tokens_revoke
        return asyncio.run(act(console, args.token, **target))
    return asyncio.run(admin.keys_rotate(console, **target))


def _chat(args: argparse.Namespace) -> int:
    from agent_iam.chat import run_chat

    if not args.request.strip():
        raise UsageError(
            'chat: say what the user asks, e.g. agent-iam chat "find a room in Lisbon"'
        )
    from iam_core.seed import DEMO_AGENTS, DEMO_PASSWORDS

    agents = [a.id for a in DEMO_AGENTS]
    if args.agent not in agents:
        raise UsageError(f"unknown agent {args.agent!r} (one of {', '.join(agents)})")
    if args.user is not None and args.user not in DEMO_PASSWORDS:
        raise UsageError(f"unknown demo user {args.user!r} (one of {', '.join(DEMO_PASSWORDS)})")
    return asyncio.run(
        run_chat(
            console,
            agent=args.agent,
            user=args.user,
            request=args.request,
            model=args.model,
            record=args.record,
            replay=args.replay,
            server=args.server,
            baseline=args.baseline,
            as_json=args.json,
        )
    )


def _serve(args: argparse.Namespace) -> int:
    from agent_iam.serve import serve_all, serve_one

    if args.only:
        if args.issuer is None:
            raise UsageError("serve --only needs --issuer URL (the IAM it trusts)")
        return serve_one(
            err,
            args.only,
            host=args.host,
            port=args.port,
            issuer=args.issuer,
            base_url=args.services_base,
            baseline=args.baseline,
            db=args.db,
        )
    return serve_all(
        err,
        host=args.host,
        port=args.port,
        db=args.db,
        issuer=args.issuer,
        baseline=args.baseline,
        workers=args.workers,
    )


if __name__ == "__main__":
    raise SystemExit(main())
