"""The edge's presentation, shared by main.py, web/ and cli/: display helpers and JSON.

Nothing below the edge imports it: services/ return typed read models, and these modules
turn them into what people (display.py) and programs (wire.py) read.
"""
