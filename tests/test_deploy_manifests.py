"""The Kubernetes manifests validate against the Kubernetes schema (strict)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from querynode.config import Settings
from querynode.core.operations import registry

MANIFESTS = sorted(str(p) for p in (Path(__file__).parent.parent / "deploy" / "k8s").glob("*.yaml"))


def test_manifests_validate_strictly():
    assert len(MANIFESTS) >= 6
    out = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", *MANIFESTS],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_configmap_configures_every_registered_department():
    configmap = yaml.safe_load((Path(__file__).parent.parent / "deploy" / "k8s" / "configmap.yaml").read_text())
    config = yaml.safe_load(configmap["data"]["querynode.yaml"])
    assert list(config["departments"]) == list(registry().departments)
    settings = Settings.model_validate(config)  # the node would accept it
    for name, conf in settings.departments.items():
        assert conf.url.startswith("https://") and str(conf.secret_file).endswith(f"/{name}.secret")
        assert conf.connector == registry().department(name).connector
