"""``agent-iam``: the command line.

agent-iam run [IDS…] [--baseline]   the attack catalogue with benign twins, and its metrics
agent-iam list                      the scenarios
agent-iam tour                      obtain the four tokens through the real flows, in memory
agent-iam serve                     the IAM over HTTP (state in ./.agent-iam/)
agent-iam token agent|app|user|obo|exchange …   run one flow and print the token
agent-iam chat --agent A [--user U] "request"   one conversation with an assistant
agent-iam demo [--json]             the demo world and its credentials
agent-iam audit verify|show         check or read the audit log
agent-iam bench [SUITE] [--quick]   the benchmarks, each figure with its goal and baseline
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from agent_iam import token_flows
from agents.oauth import OAuthClientError, decode_unverified
from scenarios.deployment import deployment

console = Console()
err = Console(stderr=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-iam", description="IAM for AI agents: a lab.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the attack catalogue (with benign twins)")
    run.add_argument("ids", nargs="*", help="scenario ids or prefixes (default: all)")
    run.add_argument("--baseline", action="store_true", help="against the shared-key baseline")
    run.add_argument("--model", help="model name (default embedded-obedient)")
    run.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    run.add_argument("--workers", type=int, help="processes (default: one per CPU)")
    run.add_argument("--json", type=Path, help="write the JSON report here")
    run.add_argument("--junit", type=Path, help="write JUnit XML here")
    run.add_argument("--html", type=Path, help="write the HTML report here")

    sub.add_parser("list", help="list the scenarios")

    tour = sub.add_parser("tour", help="obtain each token type through the real flows")
    tour.add_argument("--json", action="store_true", help="print the tour as JSON")

    serve = sub.add_parser("serve", help="run the IAM and the hotel services over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--db", type=Path, help="database file (default ./.agent-iam/iam.db)")
    serve.add_argument("--issuer", help="public issuer URL (default http://HOST:PORT)")
    serve.add_argument(
        "--only",
        choices=["availability", "booking", "payment", "concierge"],
        help="run one hotel service alone against the IAM at --issuer",
    )
    serve.add_argument(
        "--services-base",
        help="with --only: the services' base URL, whose "
        "<service> paths are their audiences (default ISSUER/hotel)",
    )
    serve.add_argument(
        "--baseline", action="store_true", help="services accept one shared API key (no agent IAM)"
    )

    token = sub.add_parser("token", help="run one token flow and print the token")
    token.add_argument("kind", choices=["agent", "app", "user", "obo", "exchange"])
    token.add_argument("--server", help="a running IAM's URL (default: in-process on --db)")
    token.add_argument("--db", type=Path, help="database of the in-process IAM")
    token.add_argument("--agent", default="booking-assistant")
    token.add_argument("--to", dest="to_agent", help="exchange: the agent of the next hop")
    token.add_argument("--user", default="alice")
    token.add_argument("--app", help="client app (default per kind)")
    token.add_argument("--scope")
    token.add_argument("--resource", help="RFC 8707 resource: a URL or a service name")
    token.add_argument("--subject-token", help="exchange: the subject token (default: run obo)")
    token.add_argument("--json", action="store_true", help="print the whole token response")
    token.add_argument("--decode", action="store_true", help="print the decoded claims too")

    chat = sub.add_parser("chat", help="one conversation with an assistant, and its transcript")
    chat.add_argument("request", help="what the user asks, in plain English")
    chat.add_argument("--agent", default="booking-assistant")
    chat.add_argument("--user", help="the person who delegates (omit: the agent acts alone)")
    chat.add_argument("--model", help="model name (default embedded-obedient; see README)")
    chat.add_argument("--record", type=Path, help="record the model's traffic to this JSONL")
    chat.add_argument("--replay", type=Path, help="replay a recorded model run, offline")
    chat.add_argument("--server", help="a running deployment's URL (default: in-process)")
    chat.add_argument("--baseline", action="store_true", help="services without agent IAM")
    chat.add_argument("--json", action="store_true", help="print the transcript as JSON")

    demo = sub.add_parser("demo", help="print the demo world and its credentials")
    demo.add_argument("--json", action="store_true")

    audit = sub.add_parser("audit", help="verify or read the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chain and checkpoints")
    verify.add_argument("--db", type=Path)
    show = audit_sub.add_parser("show", help="print audit entries")
    show.add_argument("--db", type=Path)
    show.add_argument("--agent")
    show.add_argument("--user")
    show.add_argument("--limit", type=int, default=50)
    show.add_argument("--json", action="store_true")

    # A person answers CIBA approval requests from a terminal (agent_iam/approvals.py).
    appr = sub.add_parser("approvals", help="list, approve or deny an agent's approval requests")
    appr.add_argument("action", choices=["list", "approve", "deny"])
    appr.add_argument("auth_req_id", nargs="?")
    appr.add_argument("--user", default="alice")
    appr.add_argument("--server")
    appr.add_argument("--db", type=Path)

    bench = sub.add_parser("bench", help="run the benchmarks; each figure with its goal")
    bench.add_argument(
        "suite", nargs="?", default="all", choices=["iam", "hotel", "agents", "run", "all"]
    )
    bench.add_argument("--quick", action="store_true", help="smaller runs (all: < 2 minutes)")
    bench.add_argument("--json", type=Path, help="write every figure to this JSON file")
    bench.add_argument("--markdown", action="store_true", help="print a markdown table too")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            from agent_iam.run import run_scenarios

            return run_scenarios(
                console,
                args.ids,
                baseline=args.baseline,
                model=args.model,
                seed=args.seed,
                workers=args.workers,
                json_path=args.json,
                junit_path=args.junit,
                html_path=args.html,
            )
        if args.command == "list":
            from agent_iam.run import list_scenarios

            return list_scenarios(console)
        if args.command == "tour":
            from agent_iam.tour import run_tour

            return asyncio.run(run_tour(console, as_json=args.json))
        if args.command == "serve":
            return _serve(args)
        if args.command == "token":
            return asyncio.run(_token(args))
        if args.command == "chat":
            from agent_iam.chat import run_chat

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
        if args.command == "demo":
            from agent_iam.demo import print_demo

            return print_demo(console, as_json=args.json)
        if args.command == "audit":
            from agent_iam.audit import audit_show, audit_verify

            if args.audit_command == "verify":
                return audit_verify(console, args.db)
            return audit_show(console, args.db, args.agent, args.user, args.limit, args.json)
        if args.command == "approvals":
            from agent_iam.approvals import approvals

            return asyncio.run(
                approvals(
                    console,
                    args.action,
                    args.user,
                    args.auth_req_id,
                    server=args.server,
                    db=args.db,
                )
            )
        if args.command == "bench":
            from agent_iam.bench import run_bench

            return run_bench(
                console, args.suite, quick=args.quick, json_path=args.json, markdown=args.markdown
            )
    except OAuthClientError as exc:
        err.print(f"[red]refused[/red]: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _serve(args: argparse.Namespace) -> int:
    from agent_iam.serve import serve_all, serve_one

    if args.only:
        return serve_one(
            err,
            args.only,
            host=args.host,
            port=args.port,
            issuer=args.issuer,
            base_url=args.services_base,
            baseline=args.baseline,
        )
    return serve_all(
        err, host=args.host, port=args.port, db=args.db, issuer=args.issuer, baseline=args.baseline
    )


async def _token(args: argparse.Namespace) -> int:
    async with deployment(server=args.server, db=args.db) as dep:
        if args.kind == "agent":
            response = await token_flows.agent_token(dep, args.agent, args.scope, args.resource)
        elif args.kind == "app":
            response = await token_flows.app_token(
                dep, args.app or "booking-backend", args.scope, args.resource
            )
        elif args.kind == "user":
            response = await token_flows.user_token(
                dep, args.user, args.app or "hotel-web", _need(args.scope), args.resource
            )
        elif args.kind == "obo":
            response = await token_flows.obo_token(
                dep,
                args.user,
                args.agent,
                args.app or "hotel-web",
                _need(args.scope),
                args.resource,
            )
        else:
            subject = args.subject_token
            if subject is None:
                first = await token_flows.obo_token(
                    dep,
                    args.user,
                    args.agent,
                    args.app or "hotel-web",
                    _need(args.scope),
                    args.resource,
                )
                subject = first["access_token"]
            response = await token_flows.exchange_token(
                dep, subject, args.to_agent or "staff-assistant", args.scope, args.resource
            )
    _print_token(response, as_json=args.json, decode=args.decode)
    return 0


def _need(scope: str | None) -> str:
    if not scope:
        raise SystemExit("agent-iam token: --scope is required for this flow")
    return scope


def _print_token(response: dict[str, Any], *, as_json: bool, decode: bool) -> None:
    if as_json:
        print(json.dumps(response, indent=2))
    else:
        print(response["access_token"])
    if decode:
        print(json.dumps(decode_unverified(response["access_token"]), indent=2), file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
