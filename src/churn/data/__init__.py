"""Data in: cut the months, validate them against the contract, ingest.

Imports only the ground floor (`churn.config`, `churn.contract`, ...)."""
