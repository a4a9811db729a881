"""Customer churn, taken through Google's three MLOps maturity levels."""
