"""Test support: local stand-ins for external services."""
