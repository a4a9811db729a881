"""The DVC stages after ingest: drift, prepare, train, evaluate, compare, card.

May import `churn.data` and the ground floor."""
