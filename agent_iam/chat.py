"""``agent-iam chat``: one conversation with an assistant, and its transcript.

The transcript shows what the model said, each tool call, the identity and token type it
used (never the token), what was allowed or denied and why, and the audit entries the
conversation produced (found by its trace id).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agent_iam.errors import CLIError
from agents.front_door import FRONT_DOOR, FrontDoor, ask
from agents.llm.client import ModelSettings, Tape, open_model, recorder
from agents.llm.recording import read_recording
from agents.llm.replay import Player
from agents.runtime import Conversation
from scenarios.crew import crew, person
from scenarios.deployment import Deployment, deployment


async def run_chat(
    console: Console,
    *,
    agent: str,
    user: str | None,
    request: str,
    model: str | None = None,
    record: Path | None = None,
    replay: Path | None = None,
    server: str | None = None,
    baseline: bool = False,
    as_json: bool = False,
) -> int:
    settings = ModelSettings.from_env(model=model, record=record, replay=replay)
    tape: Tape | None = None
    if replay is not None:
        # Replayed as recorded: its model and streaming, whatever this shell's settings are
        # (a run recorded against a real server replays without one); --model still wins.
        recording = read_recording(replay)
        settings = replace(settings, model=model or recording.model, stream=recording.stream)
        tape = Player()
        tape.load(recording)
    elif record is not None:
        tape = recorder(settings)
        run = {"command": "chat", "agent": agent, "user": user, "request": request}
        tape.start(record, run | {"server": server} if server else run)
    async with (
        deployment(server=server, in_memory=server is None, baseline=baseline) as dep,
        open_model(settings, tape=tape) as chat_model,
        crew(dep, chat_model, simulated_people=False) as runtimes,
    ):
        if agent not in runtimes:
            console.print(f"[red]unknown agent {agent!r}[/red] (one of {', '.join(runtimes)})")
            return 2
        try:
            human = person(user) if user else None
        except KeyError as exc:
            console.print(f"[red]{exc.args[0]}[/red]")
            return 2
        # The command is the front door: it opens the request's task and ends it with the
        # answer (docs/design.md §3.2).
        door = FrontDoor(dep.oauth, dep.app(FRONT_DOOR))
        convo, _ = await ask(door, runtimes[agent], request, human=human)
        entries = await audit_entries(dep, convo.trace_id)
    if as_json:
        console.print_json(json.dumps(transcript_json(convo, entries, settings.describe())))
    else:
        print_transcript(console, convo, entries, settings.describe())
    diverged = tape.finish() if isinstance(tape, Player) else None
    if diverged is not None:  # not a replay of the recording: an error, never a result
        raise CLIError(f"replay of {replay} diverged: {diverged}", code=2)
    return 0 if succeeded(convo) else 1


def succeeded(convo: Conversation) -> bool:
    """Ran to its end, and every call it made (and every hand-off) was allowed."""
    denied = [e for e in convo.events if e.get("outcome") in ("denied", "refused", "rejected")]
    return convo.ok and not denied and all(succeeded(h) for h in convo.handoffs)


async def audit_entries(dep: Deployment, trace_id: str) -> list[dict[str, Any]]:
    """The audit entries of one trace: in-process from the log, remotely via ``/audit``."""
    if dep.iam is not None:
        return [e.to_dict() for e in dep.iam.audit.query(trace_id=trace_id)]
    token = await dep.oauth.app_token(dep.app("auditor"), scope="audit:read")
    response = await dep.http.get(
        "/audit",
        params={"trace_id": trace_id},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    return list(response.json().get("entries", [])) if response.status_code == 200 else []


def transcript_json(
    convo: Conversation, entries: list[dict[str, Any]], model: str
) -> dict[str, Any]:
    return {
        "agent": convo.agent,
        "user": convo.user,
        "model": model,
        "request": convo.request,
        "trace_id": convo.trace_id,
        "events": convo.events,
        "answer": convo.answer,
        "failed": convo.failed,
        "handoffs": [transcript_json(h, [], model) for h in convo.handoffs],
        "audit": entries,
        "seconds": convo.seconds,
    }


def print_transcript(
    console: Console, convo: Conversation, entries: list[dict[str, Any]], model: str
) -> None:
    who = f"for {convo.user}" if convo.user else "on its own authority"
    console.rule(f"[bold]{convo.agent}[/bold] {who} · model {model}")
    _print_events(console, convo, indent="")
    console.print(f"\n[bold]answer[/bold]: {convo.answer or '—'}")
    if convo.failed:
        console.print(f"[red]run failed[/red]: {convo.failed}")
    table = Table(title=f"audit entries of trace {convo.trace_id}", show_lines=False)
    for column in ("seq", "event", "outcome", "sub", "act", "token", "service", "reason"):
        table.add_column(column, overflow="fold")
    for e in entries:
        colour = "green" if e.get("outcome") == "allowed" else "red"
        table.add_row(
            str(e.get("seq")),
            str(e.get("event")),
            f"[{colour}]{e.get('outcome')}[/{colour}]",
            str(e.get("sub") or ""),
            "→".join(e.get("act") or []),
            str(e.get("token_type") or ""),
            str(e.get("service") or ""),
            str(e.get("reason") or ""),
        )
    console.print(table)


def _print_events(console: Console, convo: Conversation, indent: str) -> None:
    handoffs = iter(convo.handoffs)
    for e in convo.events:
        kind = e.get("kind")
        if kind == "user":
            console.print(f"{indent}[bold cyan]request[/bold cyan]: {e['text']}")
        elif kind == "model":
            for call in e["calls"]:
                console.print(
                    f"{indent}[magenta]model →[/magenta] {call['tool']}({call['arguments']})"
                )
        elif kind == "authorization":
            outcome = e.get("outcome", "?")
            console.print(
                f"{indent}[yellow]consent[/yellow] {e['user']} → {e['agent']}: "
                f"{' '.join(e['scopes'])} {json.dumps(e['authorization_details'])} — {outcome}"
                + (f" ({e['reason']})" if e.get("reason") else "")
            )
        elif kind == "approval":  # OpenID CIBA: waiting for the person, then her answer
            console.print(f"{indent}[yellow]approval[/yellow] {e['text']}")
        elif "grant" in e:
            console.print(f"{indent}[blue]token[/blue] {e['grant']}: {e['token']}")
        elif "tool" in e:
            ok = e.get("outcome") == "allowed"
            mark = "[green]allowed[/green]" if ok else f"[red]{e.get('outcome')}[/red]"
            where = f"{e.get('method', '')} {e.get('service', '')}{e.get('path', '')}".strip()
            console.print(
                f"{indent}[bold]tool[/bold] {e['tool']} {where} as {e.get('identity', '—')}: "
                f"{mark}" + (f" — {e['reason']}" if not ok and e.get("reason") else "")
            )
            if e["tool"] == "handoff_to_staff":
                other = next(handoffs, None)
                if other is not None:
                    console.print(f"{indent}  [bold]↳ {other.agent}[/bold]")
                    _print_events(console, other, indent + "    ")
                    console.print(f"{indent}    [bold]answer[/bold]: {other.answer or '—'}")
        elif kind in ("message", "handoff"):
            console.print(
                f"{indent}[yellow]{kind}[/yellow] {e.get('outcome')}: "
                f"{e.get('reason') or e.get('from', '')}"
            )
