"""Pure, I/O-free logic shared by the async and the sync client: both twins put the same bytes on the wire."""
