"""Scheduled readiness summaries and alerts, weekly DR drills with measured RTO/RPO, drill
reports with charts, and the audit digest. `bot.schedules` decides when; this package decides
what is measured and said."""
