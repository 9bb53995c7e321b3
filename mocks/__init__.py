"""Department simulators and the synthetic data they serve. Never imported by the node."""
