"""The `[slack]` section of drbot's configuration: how the bot reaches Slack and where it
posts.

```toml
[slack]
mode = "socket"                 # or "http" (signed requests to http.host:http.port/path)
bot_token = "xoxb-..."          # secrets: also DRBOT_SLACK__BOT_TOKEN, or DRBOT_SECRETS_DIR
app_token = "xapp-..."          # Socket Mode only (connections:write)
signing_secret = "..."          # HTTP mode only

# Who may click a storage step's Done is the policy's: [policy] storage_role.

[slack.channels]
requests = "C0DROPS001"         # where /dr failover, failback and test-failover may be asked
audit = "G0DRAUDIT1"            # every audit entry, batched
reports = "C0DRREPORT"          # readiness summaries and drill reports
```

Channels are IDs, never names: names change, and Slack's file uploads refuse names.

Loading is lenient (the operator CLI reads the same file and must work when chat is down or
half configured); `drbot serve` calls `ready()`, which says what is missing for the mode.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot.slack import messages


class SlackChannels(BaseModel):
    """Where the bot posts (channel IDs)."""

    model_config = ConfigDict(extra="forbid")

    requests: str | None = Field(default=None, description="channel of requests and run threads")
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
    channels: SlackChannels = Field(default_factory=SlackChannels)
    http: HttpListen = Field(default_factory=HttpListen)
    workers: int = Field(default=8, ge=1, le=64, description="threads that do listeners' work")
    progress_interval_seconds: float = Field(default=1.0, ge=0.2)
    audit_batch_seconds: float = Field(default=5.0, ge=0.0)
    audit_batch_size: int = Field(default=20, ge=1, le=40)
    audit_anchor_minutes: float = Field(
        default=60.0,
        ge=1.0,
        description="how often the audit chain's head is anchored and posted if it moved",
    )

    def ready(self) -> list[str]:
        """What `drbot serve` still needs in this section (empty: ready)."""
        missing = []
        if self.mode == "socket" and self.app_token is None:
            missing.append(messages.NEEDS_APP_LEVEL_KEY)
        if self.mode == "http" and self.signing_secret is None:
            missing.append(messages.NEEDS_SIGNING_KEY)
        if not self.channels.requests:
            missing.append(messages.NEEDS_REQUESTS_CHANNEL)
        return missing
