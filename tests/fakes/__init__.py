"""Real, local stand-ins for external services, driven by the tests."""
