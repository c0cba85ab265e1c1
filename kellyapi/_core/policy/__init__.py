"""The call policy, pure and shared by both twins: whether and when an attempt goes (`pace`), and what follows a
failed one (`retry`). The clients' call loops only ask it and wait."""
