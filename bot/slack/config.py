"""The `[slack]` section of drbot's configuration: how the bot reaches Slack and where it
posts.

```toml
[slack]
mode = "socket"                 # or "http" (signed requests to http.host:http.port/path)
bot_token = "xoxb-..."          # secrets: also DRBOT_SLACK__BOT_TOKEN, or DRBOT_SECRETS_DIR
app_token = "xapp-..."          # Socket Mode only (connections:write)
signing_secret = "..."          # HTTP mode only
storage_role = "operator"       # who may click "Done" on a manual storage step

[slack.channels]
requests = "C0DROPS001"         # where /dr failover, failback and test-failover may be asked
audit = "G0DRAUDIT1"            # every audit entry, batched
reports = "C0DRREPORT"          # readiness summaries and drill reports
```

Channels are IDs, never names: names change, and Slack's file uploads refuse names.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from bot.slack import messages

Role = Literal["viewer", "operator", "approver", "admin"]


class SlackChannels(BaseModel):
    """Where the bot posts (channel IDs)."""

    model_config = ConfigDict(extra="forbid")

    requests: str = Field(min_length=1, description="channel of /dr requests and their threads")
    audit: str | None = Field(default=None, description="channel every audit entry is posted to")
    reports: str | None = Field(default=None, description="channel of summaries and reports")


class HttpListen(BaseModel):
    """Where HTTP mode listens for Slack's signed requests."""

    model_config = ConfigDict(extra="forbid")

    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535)
    path: str = "/slack/events"


class SlackConfig(BaseModel):
    """How drbot talks to Slack."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["socket", "http"] = "socket"
    bot_token: SecretStr
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    api_url: str | None = Field(
        default=None, description="Web API base URL; only for a Slack double (sim/slack)"
    )
    channels: SlackChannels
    http: HttpListen = Field(default_factory=HttpListen)
    storage_role: Role = "operator"
    workers: int = Field(default=8, ge=1, le=64, description="threads that do listeners' work")
    progress_interval_seconds: float = Field(default=1.0, ge=0.2)
    audit_batch_seconds: float = Field(default=5.0, ge=0.0)
    audit_batch_size: int = Field(default=20, ge=1, le=40)

    @model_validator(mode="after")
    def _tokens_for_mode(self) -> Self:
        if self.mode == "socket" and self.app_token is None:
            raise ValueError(messages.CONFIG_NEEDS_APP_TOKEN)
        if self.mode == "http" and self.signing_secret is None:
            raise ValueError(messages.CONFIG_NEEDS_SIGNING_SECRET)
        return self
