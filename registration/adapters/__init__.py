"""Adapters: the only code that talks to Google Cloud services and Encord."""
