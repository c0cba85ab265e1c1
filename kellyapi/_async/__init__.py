"""One client twin: the generated endpoint methods (api.py) over the hand-written core (client.py)."""

from kellyapi._async.api import KellyAPI

__all__ = ["KellyAPI"]
