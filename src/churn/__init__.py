"""Customer churn, taken through Google's three MLOps maturity levels."""

__version__ = "0.1.0"
