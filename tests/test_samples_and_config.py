"""samples.json is what the seed gives; settings load from YAML and environment."""
from __future__ import annotations

from mocks.samples import build, load
from querynode.config import Settings


def test_samples_file_is_current():
    assert load() == build(), "run: python -m mocks.samples"


def test_defaults():
    s = Settings()
    assert (s.grpc.host, s.grpc.port, s.http.port) == ("127.0.0.1", 50051, 8080)
    assert s.cache.backend == "memory" and s.audit.backend == "sqlite"


def test_yaml_then_environment(tmp_path, monkeypatch):
    config = tmp_path / "node.yaml"
    config.write_text("grpc: {port: 6000}\nhttp: {port: 6001}\ndefault_deadline_seconds: 3\n")
    monkeypatch.setenv("QUERYNODE_CONFIG", str(config))
    monkeypatch.setenv("QUERYNODE_HTTP__PORT", "7001")
    s = Settings()
    assert (s.grpc.port, s.http.port, s.default_deadline_seconds) == (6000, 7001, 3)


def test_secret_from_file(tmp_path, monkeypatch):
    secret = tmp_path / "identity.secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("QUERYNODE_DEPARTMENTS__IDENTITY__SECRET_FILE", str(secret))
    monkeypatch.setenv("QUERYNODE_DEPARTMENTS__IDENTITY__URL", "https://mps.example")
    monkeypatch.setenv("QUERYNODE_DEPARTMENTS__IDENTITY__CONNECTOR", "connectors.identity:IdentityConnector")
    s = Settings()
    assert s.departments["identity"].read_secret() == "s3cret"
    assert "s3cret" not in repr(s)
