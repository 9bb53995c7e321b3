"""Sample cases with known outcomes, regenerated from the seed: `python -m mocks.samples`."""
from __future__ import annotations

import json
from pathlib import Path

from mocks.population import SEED, generate, unknown_id

SAMPLES_PATH = Path(__file__).with_name("samples.json")
POPULATION_SIZE = 2000


def build(size: int = POPULATION_SIZE, seed: int = SEED) -> dict:
    people = generate(size, seed)
    han = [p for p in people if p.kind == "resident" and p.ethnicity == "01"]
    compound = next(p for p in han if p.name[:2] in {"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙",
                                                         "慕容", "令狐", "夏侯", "长孙", "宇文", "司徒", "端木"})
    minority = next(p for p in people if "·" in p.name and p.kind == "resident")
    permit = next(p for p in people if p.kind == "hmt")
    foreigner = next(p for p in people if p.kind == "foreigner")
    mismatch = han[1]
    wrong_name = ("张" if mismatch.name[0] != "张" else "李") + mismatch.name[1:]
    return {
        "seed": seed,
        "population_size": size,
        "identity": {
            "match": [
                {"label": "plain match", "name": han[0].name, "id_number": han[0].id_number},
                {"label": "compound surname", "name": compound.name, "id_number": compound.id_number},
                {"label": "minority name with ·", "name": minority.name, "id_number": minority.id_number},
                {"label": "Hong Kong/Macao/Taiwan residence permit", "name": permit.name, "id_number": permit.id_number},
                {"label": "foreigner's permanent residence card", "name": foreigner.name, "id_number": foreigner.id_number},
            ],
            "name_mismatch": [
                {"label": "wrong surname", "name": wrong_name, "id_number": mismatch.id_number},
            ],
            "not_found": [
                {"label": "valid number nobody holds", "name": "王小明", "id_number": unknown_id(people, seed)},
            ],
        },
    }


def load() -> dict:
    return json.loads(SAMPLES_PATH.read_text(encoding="utf-8"))


if __name__ == "__main__":
    SAMPLES_PATH.write_text(json.dumps(build(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {SAMPLES_PATH}")
