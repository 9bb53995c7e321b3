"""The Kubernetes manifests validate against the Kubernetes schema (strict)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MANIFESTS = sorted(str(p) for p in (Path(__file__).parent.parent / "deploy" / "k8s").glob("*.yaml"))


def test_manifests_validate_strictly():
    assert len(MANIFESTS) >= 6
    out = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", *MANIFESTS],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
