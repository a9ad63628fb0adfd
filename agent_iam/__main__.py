"""``python -m agent_iam``: the same as the ``agent-iam`` command."""

from agent_iam.cli import main

raise SystemExit(main())
