"""What a user may ask, and whether it may run. Knows nothing of Slack."""
