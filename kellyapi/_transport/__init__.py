"""The I/O seam: `aiohttp.AsyncTransport` and `urllib3.SyncTransport` send a `Request` and return a `Response`.

A transport knows HTTP and nothing of the Kelly API; each is the only module that imports its library.
"""
