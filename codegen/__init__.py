"""Generates the SDK's endpoint code, its sandbox routes and the sync twins from the OpenAPI spec."""
