"""Cost intelligence: forecasts, anomalies, where the money is wasted, reconciliation with
the providers' bills, the weekly review (issue 19)."""
