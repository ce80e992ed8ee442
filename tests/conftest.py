"""Shared by every test directory: this file puts tests/ on sys.path, so helpers such as
``services`` (real Redis and PostgreSQL servers on loopback) import by name."""
