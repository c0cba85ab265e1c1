"""Benchmarks of the SDK against its raw transports: `python -m bench`."""
