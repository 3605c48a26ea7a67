"""Automatic Encord registration for objects landing in Google Cloud Storage."""
