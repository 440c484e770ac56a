"""The operator CLI's parts (mounted on `drbot` by `bot.cli_ops.register`): wiring of the
engine from the configuration, rendering, run progress, and one module per command group.
User-facing strings live in `bot.ops.messages`."""
