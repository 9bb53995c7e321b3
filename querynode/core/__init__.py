"""The hub: the one path every query takes, one module per stage.

validate -> authorize -> audit -> cache / single-flight -> breaker -> retry -> connector
"""
