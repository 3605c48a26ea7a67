"""The local stack: emulators, functions-framework servers, sample drops and the demo.

Shared by the tests, `make demo`, `make try` and the benchmarks; never deployed.
"""
