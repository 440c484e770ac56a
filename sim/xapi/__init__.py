"""A XenServer / XCP-ng double.

Pools of hosts at two sites, speaking XAPI over XML-RPC and JSON-RPC on loopback.
"""
