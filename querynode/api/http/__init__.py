"""The HTTP door: JSON API, health; later clerk pages and metrics."""
