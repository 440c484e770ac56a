"""SQLite through sqlite-utils: runs and their steps, approvals, audit trail, drill history."""
