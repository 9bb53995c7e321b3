"""Observability: Prometheus metrics (`metrics`), JSON logs (`logs`), call observation and
request ids (`calls`), readiness (`health`)."""
