"""Tools for the agents: the registry, the HTTP layer for external APIs, and untrusted-content fencing."""
