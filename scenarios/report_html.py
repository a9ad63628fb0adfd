"""The HTML report of a catalogue run: one self-contained page, and its sequence diagrams.

Apart from ``report.py`` because it is presentation, not measurement: it only lays out the
figures ``report.summary`` and ``report.matrix`` compute, and each run's steps, calls and
audit entries, so a change of layout can never change a number. No external resource, no
script: the page opens offline, from a CI artifact, as it was written.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from scenarios.report import matrix, pct, summary
from scenarios.runner import CatalogueResult, Outcome

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2433}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #dde2ea;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f9}.ok{color:#17733a;font-weight:600}.bad{color:#b42318;font-weight:600}
.muted{color:#667085}
details{border:1px solid #dde2ea;border-radius:6px;margin:.5rem 0;padding:.4rem .8rem}
summary{cursor:pointer}code{font-size:12px}.pill{border-radius:9px;padding:0 .45rem;font-size:12px}
.allowed{background:#e3f4e8}.denied{background:#fde7e5}.attacker{background:#fff4d6}
"""


def _e(value: Any) -> str:
    return html.escape(str(value if value is not None else "—"))


def _yes(flag: bool | None, good: bool) -> str:
    if flag is None:
        return "<span class=muted>—</span>"
    cls = "ok" if flag == good else "bad"
    return f"<span class={cls}>{'yes' if flag else 'no'}</span>"


def write_html(result: CatalogueResult, path: Path) -> None:
    """One page, no external resource: summary, per-threat table, then every run in detail."""
    s = summary(result)
    mode = f"profiles {', '.join(result.profiles)} · threat {result.model}"
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>agent-iam scenarios ({_e(mode)})</title><style>{_CSS}</style>",
        f"<h1>Attack scenarios against the hotel's agents — {_e(mode)}</h1>",
        "<p>Each attack from the catalogue ran in a fresh world, and so did its <em>benign "
        "twin</em> (the same task without the attacker). An attack <em>succeeded</em> when "
        "the attacker got what they wanted; a twin <em>succeeded</em> when the people's own "
        "task was done. Below each run: who obtained which token, each call and whether "
        "it was allowed or denied, and the audit entries.</p>",
        "<table><tr><th>attack success rate</th><th>utility (benign twins)</th>"
        "<th>utility under attack</th><th>expectations</th><th>model</th><th>seed</th>"
        "<th>duration</th></tr>",
        f"<tr><td>{pct(s['attack_success_rate'])} ({s['attacks_succeeded']}/{s['attacks']})</td>"
        f"<td>{pct(s['utility_rate'])} ({s['benign_succeeded']}/{s['benign']})</td>"
        f"<td>{pct(s['utility_under_attack_rate'])}</td>"
        f"<td>{s['passed']}/{s['runs']} runs pass</td><td>{_e(s['model'])}</td>"
        f"<td>{s['seed']}</td><td>{s['duration_seconds']} s "
        f"(median run {s['median_run_ms']} ms)</td></tr></table>",
        "<h2>By threat</h2><table><tr><th>threat</th><th>attacks</th><th>succeeded</th>"
        "<th>attack success rate</th><th>utility</th></tr>",
    ]
    for threat, row in s["per_threat"].items():
        parts.append(
            f"<tr><td>{_e(threat)}</td><td>{row['attacks']}</td><td>{row['attacks_succeeded']}</td>"
            f"<td>{pct(row['attack_success_rate'])}</td><td>{pct(row['utility_rate'])}</td></tr>"
        )
    parts.append("</table>")
    parts.append(_matrix_html(result))
    parts.append("<h2>Runs</h2>")
    for o in result.outcomes:
        parts.append(_run_html(o))
    path.write_text("".join(parts) + "</html>\n", encoding="utf-8")


def _run_html(o: Outcome) -> str:
    verdict = "<span class=ok>pass</span>" if o.passed else "<span class=bad>FAIL</span>"
    if o.kind == "attack":
        what = f"attack succeeded: {_yes(o.attack_succeeded, False)}"
    else:
        what = f"task succeeded: {_yes(o.utility, True)}"
    rows = [
        f"<details><summary>{verdict} <code>{_e(o.id)}</code> — {_e(o.title)} "
        f"<span class=muted>({o.kind}; case {o.case}; {_e(', '.join(o.threats))}; "
        f"{_e(o.profile)}; {_e(o.model)})</span> · {what}"
        f"{' · stopped by ' + _e(o.stopped_by) if o.stopped_by else ''}"
        f"</summary>{sequence_svg(o)}<ol>"
    ]
    for step in o.sequence:
        cls = " class=attacker" if step["attacker"] else ""
        rows.append(f"<li{cls}>{_e(step['step'])}<ul>")
        for ev in step["events"]:
            rows.append(f"<li>{_event_html(ev)}</li>")
        rows.append("</ul></li>")
    rows.append("</ol><p><b>Expectations</b></p><ul>")
    for e in o.expectations:
        mark = "<span class=ok>✓</span>" if e["passed"] else "<span class=bad>✗</span>"
        rows.append(f"<li>{mark} {_e(e['text'])}</li>")
    if o.error:
        rows.append(f"<li><span class=bad>error</span> {_e(o.error)}</li>")
    rows.append(
        "</ul><p><b>Audit entries</b></p><table><tr><th>seq</th><th>event</th>"
        "<th>outcome</th><th>sub</th><th>act</th><th>token</th><th>service</th><th>reason</th></tr>"
    )
    for a in o.audit:
        cls = "allowed" if a.get("outcome") == "allowed" else "denied"
        rows.append(
            f"<tr><td>{a.get('seq')}</td><td>{_e(a.get('event'))}</td>"
            f"<td><span class='pill {cls}'>{_e(a.get('outcome'))}</span></td>"
            f"<td>{_e(a.get('sub'))}</td>"
            f"<td>{_e(' → '.join(a.get('act') or []) or None)}</td>"
            f"<td>{_e(a.get('token_type'))}</td>"
            f"<td>{_e(a.get('service'))}</td><td>{_e(a.get('reason'))}</td></tr>"
        )
    rows.append("</table></details>")
    return "".join(rows)


def _event_html(ev: dict[str, Any]) -> str:
    kind = ev.get("kind")
    if kind == "token":
        grant = f"<span class=muted>({_e(ev['grant'])})</span>"
        return f"{_e(ev['agent'])} obtained {_e(ev['token'])} {grant}"
    if kind == "call":
        cls = "allowed" if ev.get("outcome") == "allowed" else "denied"
        why = f" — {_e(ev['reason'])}" if ev.get("reason") and cls == "denied" else ""
        return (
            f"{_e(ev['agent'])} called <code>{_e(ev['tool'])}</code> "
            f"as {_e(ev['as'] or 'no token')}: "
            f"<span class='pill {cls}'>{_e(ev.get('outcome'))}</span>{why}"
        )
    if kind == "attacker":
        cls = "allowed" if ev.get("outcome") == "allowed" else "denied"
        pill = f"<span class='pill {cls}'>{_e(ev['outcome'])}</span>"
        return f"attacker: {_e(ev['label'])} → HTTP {_e(ev['status'])} {pill}"
    if kind == "authorization":
        return (
            f"{_e(ev.get('user'))} was asked to consent to {_e(ev.get('agent'))} for "
            f"<code>{_e(' '.join(ev.get('scopes') or []))}</code>: {_e(ev.get('outcome'))}"
        )
    if kind == "approval":  # OpenID CIBA: the wait for the person, then her answer
        cls = {"approved": "allowed", "waiting": "muted"}.get(str(ev.get("outcome")), "denied")
        return f"<span class='approval {cls}'>{_e(ev.get('text'))}</span>"
    if kind == "more":
        return f"<span class=muted>… and {ev['count']} more</span>"
    return _e(json.dumps(ev, default=str))


def _matrix_html(result: CatalogueResult) -> str:
    parts = []
    for model, m in matrix(result).items():
        head = "".join(f"<th>{_e(p)}</th>" for p in result.profiles)
        parts.append(f"<h2>Attack × profile — threat model {_e(model)}</h2>")
        parts.append(f"<table><tr><th>attack</th>{head}</tr>")
        for scenario, row in m["rows"].items():
            cells = ""
            for p in result.profiles:
                cell = row.get(p) or {"verdict": "—", "stopped_by": ""}
                cls = {"HARM": "bad", "stopped": "ok"}.get(cell["verdict"], "muted")
                cells += f"<td class={cls} title='{_e(cell['stopped_by'])}'>{cell['verdict']}</td>"
            parts.append(f"<tr><td><code>{_e(scenario)}</code></td>{cells}</tr>")
        parts.append("</table>")
    return "".join(parts)


LANES = ("person", "app", "agent", "IAM", "service")


def sequence_svg(o: Outcome) -> str:
    """The run's token flow as an inline SVG sequence diagram (no network, no script):
    person → app (consent), agent → IAM (tokens), agent/attacker → service (calls)."""
    arrows: list[tuple[str, str, str, str]] = []  # from, to, label, colour
    for step in o.sequence:
        for ev in step["events"]:
            kind = ev.get("kind")
            if kind == "authorization":
                arrows.append(("person", "app", f"consents: {ev.get('outcome')}", "#2a7ab9"))
                arrows.append(("app", "IAM", "code + PKCE", "#2a7ab9"))
            elif kind == "token":
                arrows.append(("agent", "IAM", str(ev.get("grant"))[:40], "#2a7ab9"))
            elif kind == "approval" and ev.get("outcome") != "waiting":
                arrows.append(("person", "IAM", f"approval: {ev.get('outcome')}", "#2a7ab9"))
            elif kind == "call":
                ok = ev.get("outcome") == "allowed"
                colour = "#17733a" if ok else "#b42318"
                arrows.append(
                    ("agent", "service", f"{ev.get('tool')}: {ev.get('outcome')}", colour)
                )
            elif kind == "attacker":
                ok = ev.get("outcome") == "allowed"
                colour = "#b58100" if ok else "#b42318"
                arrows.append(("agent", "service", f"attacker: {ev.get('label')}"[:48], colour))
    arrows = arrows[:30]
    width, lane, top = 640, 128, 28
    height = top + 22 * len(arrows) + 16
    x = {name: 64 + i * lane for i, name in enumerate(LANES)}
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        "font-size='11' font-family='system-ui,sans-serif' role='img'>"
    ]
    for name in LANES:
        out.append(f"<text x='{x[name]}' y='14' text-anchor='middle'>{name}</text>")
        out.append(f"<line x1='{x[name]}' y1='20' x2='{x[name]}' y2='{height}' stroke='#ccd'/>")
    for n, (a, b, label, colour) in enumerate(arrows):
        y = top + 22 * n + 10
        out.append(
            f"<line x1='{x[a]}' y1='{y}' x2='{x[b]}' y2='{y}' stroke='{colour}' "
            "stroke-width='1.5'/>"
            f"<circle cx='{x[b]}' cy='{y}' r='3' fill='{colour}'/>"
            f"<text x='{(x[a] + x[b]) / 2}' y='{y - 3}' text-anchor='middle' "
            f"fill='{colour}'>{_e(label)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
