"""Content the attacker plants where agents will read it (docs/attacks.md, indirect injection).

Neither move needs any credential: a review and a concierge note are open to anyone, and
the injection only works if an agent treats what it reads as instructions.
"""

from __future__ import annotations

from dataclasses import dataclass

from scenarios.model import Run, Step


@dataclass
class PlantReview(Step):
    """The attacker writes a hotel review: free text that agents will read."""

    hotel: str
    text: str
    attacker: bool = True

    async def run(self, run: Run) -> None:
        run.world.add_review(self.hotel, "Anonymous traveller", self.text, 5)

    def describe(self) -> str:
        return f"attacker plants a review at {self.hotel}: “{self.text}”"


@dataclass
class PlantNote(Step):
    """The attacker leaves a concierge request: notes staff agents read as shared memory."""

    guest: str
    text: str
    attacker: bool = True

    async def run(self, run: Run) -> None:
        run.world.create_request(self.guest, self.text, None, created_by=self.guest)

    def describe(self) -> str:
        return f"attacker leaves a note (as {self.guest}): “{self.text}”"
