"""The gateway's HTTP service (``gbagw api``): agency push receivers, health and readiness."""
