"""Test support: the in-memory fake of every port, fault-injecting wrappers, a fake clock,
the Encord API stub."""
