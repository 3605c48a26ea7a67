"""Firestore adapters: document names and field mapping, then one module per concern."""
