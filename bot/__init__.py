"""Chat front end and composition root: Slack (Bolt) listeners, the CLI, settings."""
