"""Cost intelligence: forecasts, budget projections and spend anomalies (issue 19)."""
