"""The Slack front end: a Bolt app over the commands service (the only package that imports
slack_bolt and slack_sdk)."""
