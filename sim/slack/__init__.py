"""A Slack workspace double: the Web API over HTTP and Socket Mode over WebSocket."""
