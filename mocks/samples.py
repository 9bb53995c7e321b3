"""Sample cases with known outcomes, regenerated from the seed: `python -m mocks.samples`."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

from mocks.departments import DEPARTMENTS
from mocks.world import SEED, World
from mocks.world import build as build_world

SAMPLES_PATH = Path(__file__).with_name("samples.json")
POPULATION_SIZE = 2000


def build(world: World | None = None) -> dict:
    """Every department's samples, each from its mock module's `samples(world)`."""
    world = world or build_world(POPULATION_SIZE, SEED)
    out: dict = {"seed": world.seed, "population_size": len(world.persons)}
    for _, module_name, _ in DEPARTMENTS:
        out[module_name.removeprefix("mocks.")] = importlib.import_module(module_name).samples(world)
    return out


def load() -> dict:
    return json.loads(SAMPLES_PATH.read_text(encoding="utf-8"))


if __name__ == "__main__":
    SAMPLES_PATH.write_text(json.dumps(build(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {SAMPLES_PATH}")
