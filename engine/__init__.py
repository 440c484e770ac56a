"""What happens to the pools: readiness, plans and runs through one XAPI client."""
