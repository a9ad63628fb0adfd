"""``chat --record/--replay`` and ``run --record/--replay`` as a person runs them.

The README's own chat example is recorded and replayed (the issue's defect: it diverged at
request 4 on a wall-clock stamp, without saying what differed). A recording edited by hand
ends the replay with exit 2 and one line naming the request, the field and both values; a
file that is not a recording, or a folder that is not a recorded run, is refused with exit
2 and a precise line — never a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent_iam.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = "Book a double room at the Grand Meridian from 2026-12-10 to 2026-12-12 and pay for it"
CHAT = ["chat", "--agent", "booking-assistant", "--user", "alice"]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_IAM_HOME", str(tmp_path / ".agent-iam"))
    for name in ("OPENAI_BASE_URL", "AGENT_IAM_MODEL", "OPENAI_MODEL", "AGENT_IAM_STREAM"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's chat example, recorded once for the module."""
    path = tmp_path_factory.mktemp("chat") / "run.jsonl"
    assert main([*CHAT, "--record", str(path), "--json", EXAMPLE]) == 0
    return path


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_the_readme_chat_example_is_the_one_recorded_here() -> None:
    text = " ".join(README.read_text().split())
    assert f'agent-iam chat --agent booking-assistant --user alice "{EXAMPLE}"' in text


def test_the_readme_chat_example_replays_offline(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    # No model behind the replay: an endpoint nothing listens on, and a model name it lacks.
    env = pytest.MonkeyPatch()
    env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    env.setenv("AGENT_IAM_MODEL", "no-such-model")
    try:
        assert main([*CHAT, "--replay", str(recording), "--json", EXAMPLE]) == 0
    finally:
        env.undo()
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "embedded-obedient @ http://127.0.0.1:9/v1 (replayed)"
    assert out["failed"] is None
    tools = [e["tool"] for e in out["events"] if "tool" in e]
    assert tools == ["search_availability", "list_payment_methods", "book_room", "pay_booking"]


def test_an_edited_recording_ends_in_one_line_naming_request_field_and_values(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = recording.read_text().splitlines()
    edited = tmp_path / "edited.jsonl"
    lines[2] = lines[2].replace('\\"room_type\\": \\"double\\"', '\\"room_type\\": \\"suite\\"')
    edited.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main([*CHAT, "--replay", str(edited), EXAMPLE]) == 2
    line = one_line_error(capsys)
    assert re.search(
        r"diverged: request 2 \(POST /chat/completions, \d+ messages, after the result of "
        r"request_authorization\) differs at \$\.messages\[2\]\.tool_calls\[0\]\.function\."
        r'arguments\{json\}\.booking\.room_type: recorded "suite", this run "double"',
        line,
    ), line


BAD = [
    ("", "is empty (no header line)"),
    ("not json\n", "line 1: not JSON"),
    ("[1, 2]\n", "line 1: not a JSON object"),
    ('{"request": {}, "response": {}}\n', "an unversioned recording from before format"),
    ('{"format": "other"}\n', "line 1: not a header of 'agent-iam-model-recording'"),
    ('{"format": "agent-iam-model-recording", "version": 9, "model": "m"}\n', "version 9"),
    ('{"format": "agent-iam-model-recording", "version": 1}\n', "line 1: no model name"),
    ("{HEAD}\n{}\n", "line 2: an exchange needs a request and a response"),
    ('{HEAD}\n{"n": 2, "request": {}, "response": {}}\n', "exchange number 2, expected 1"),
    (
        '{HEAD}\n{"n": 1, "request": {"method": "POST", "path": "/x", "body": 1}, '
        '"response": {"status": "ok", "body": 1}}\n',
        "line 2: the response status 'ok' is not an HTTP status",
    ),
    ("{HEAD}\n\xff\n", "not UTF-8"),
]
HEAD = '{"format": "agent-iam-model-recording", "version": 1, "model": "embedded-obedient"}'


@pytest.mark.parametrize(("content", "says"), BAD)
def test_a_bad_recording_is_refused_in_one_line_with_exit_2(
    content: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    raw = content.replace("{HEAD}", HEAD).encode("utf-8", "surrogateescape")
    path.write_bytes(raw.replace("\xff".encode(), b"\xff"))
    assert main([*CHAT, "--replay", str(path), "hi"]) == 2
    line = one_line_error(capsys)
    assert str(path) in line and says in line, line


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two scenarios under two profiles and two threat models, recorded."""
    folder = tmp_path_factory.mktemp("runs") / "rec"
    args = ["run", "c11a", "c06b", "--workers", "1", "--record", str(folder)]
    args += ["--profile", "agent-iam", "--profile", "shared-key"]
    assert main([*args, "--model", "embedded-obedient", "--model", "compromised"]) == 0
    return folder


def test_run_replays_the_recorded_selection_with_nothing_but_the_folder(
    recorded_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = json.loads((recorded_run / "recording.json").read_text())
    assert index["scenarios"] == ["c06b-handoff-of-payment-to-staff-agent", "c11a-raise-the-amount"]
    assert len(index["runs"]) == 2 * 2 * 2 * 2
    assert all((recorded_run / run["file"]).is_file() for run in index["runs"])
    capsys.readouterr()
    report = tmp_path / "report.json"
    code = main(["run", "--replay", str(recorded_run), "--workers", "1", "--json", str(report)])
    assert code == 0, capsys.readouterr().out
    assert "replayed 16 runs" in capsys.readouterr().out
    body = json.loads(report.read_text())
    assert body["summary"]["errors"] == 0 and len(body["scenarios"]) == 16


def test_run_replay_of_an_edited_run_is_an_error_of_that_run(
    recorded_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "rec"
    copy.mkdir()
    for path in recorded_run.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(recorded_run)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    one = copy / "agent-iam" / "embedded-obedient" / "c11a-raise-the-amount~benign.jsonl"
    head, first, *rest = one.read_text().splitlines()
    exchange = json.loads(first)
    exchange["request"]["body"]["messages"][1]["content"] += " please"  # the person's words
    one.write_text("\n".join([head, json.dumps(exchange), *rest]) + "\n")
    report = tmp_path / "report.json"
    argv = ["run", "c11a", "--profile", "agent-iam", "--model", "embedded-obedient"]
    capsys.readouterr()
    assert main([*argv, "--replay", str(copy), "--workers", "1", "--json", str(report)]) == 2
    (errored,) = [o for o in json.loads(report.read_text())["scenarios"] if o["error"]]
    assert errored["id"] == "c11a-raise-the-amount~benign"
    assert (
        "diverged: request 1 (POST /chat/completions, 2 messages, the request itself) "
        in (errored["error"])
    )
    assert re.search(
        r'differs at \$\.messages\[1\]\.content: recorded "[^"]+ please", this run "[^"]+"$',
        errored["error"],
    ), errored["error"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--seed", "3"], "made with --seed 0; --seed 3 is another world"),
        (["c01a"], "has no recording of c01a-review-books-other-hotel (agent-iam"),
        (["--profile", "user-token", "c11a"], "has no recording of c11a-raise-the-amount (user"),
    ],
)
def test_run_replay_refuses_what_was_not_recorded(
    recorded_run: Path, extra: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["run", "--replay", str(recorded_run), "--workers", "1", *extra]) == 2
    assert says in one_line_error(capsys)


@pytest.mark.parametrize(
    ("index", "says"),
    [
        (None, "holds no recording.json: not a folder made by run --record"),
        ("{", "recording.json is not JSON"),
        ('{"format": "agent-iam-run-recording", "version": 7}', "format version 7"),
        ('{"format": "agent-iam-run-recording", "version": 1, "seed": 0}', "scenarios is not"),
    ],
)
def test_run_replay_of_a_folder_that_is_not_a_recorded_run(
    index: str | None, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if index is not None:
        (tmp_path / "recording.json").write_text(index)
    assert main(["run", "--replay", str(tmp_path)]) == 2
    assert says in one_line_error(capsys)


def test_record_and_replay_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--record", str(tmp_path / "a"), "--replay", str(tmp_path)]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
