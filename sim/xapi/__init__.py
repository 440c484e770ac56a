"""A XenServer / XCP-ng double: pools of hosts at two sites speaking XAPI over XML-RPC and JSON-RPC."""
