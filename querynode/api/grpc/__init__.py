"""The gRPC door: wire messages to domain queries and back."""
