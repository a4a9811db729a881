"""What a pull request is told (report) and whether it may merge (gate).

May import `churn.pipeline`, `churn.data` and the ground floor."""
