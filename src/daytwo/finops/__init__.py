"""Cost intelligence: forecasts, anomalies, where the money is wasted (issue 19)."""
