"""Who asks: a person (or the scheduler) as the service sees them, whatever the front end.

Identity is the front end's immutable id (a Slack user id `U…`/`W…`, the login name on the CLI,
the schedule's name), never a display name: names change and can be chosen by anyone, so the
policy and the approval rules compare `id` only. `name` is for messages and the audit trail.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Via = Literal["cli", "slack", "schedule"]


class Actor(BaseModel):
    """A person or the scheduler asking the service for something.

    Attributes:
        id: immutable id in the front end (Slack user id, CLI login, schedule name).
        name: display name for messages (may be empty: Slack often leaves it so).
        via: which front end the request came through; the CLI is the break-glass path.
        channel: the chat channel the request was typed in (None outside chat).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(default="", max_length=200)
    via: Via
    channel: str | None = Field(default=None, max_length=200)

    @property
    def label(self) -> str:
        """How the audit trail and the runs table name this actor: `via:id`, e.g. `slack:U123`."""
        return f"{self.via}:{self.id}"

    @property
    def shown(self) -> str:
        """The display name, or the id when there is none."""
        return self.name or self.id
