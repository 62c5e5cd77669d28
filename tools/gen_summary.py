#!/usr/bin/env python3
"""Generates medilink-fhir/data/r4-summary.json: per resource type, the top-level elements that
`_summary=true` keeps (ElementDefinition.isSummary) and those every shaped resource keeps
(min >= 1), for result shaping in medilink-fhir/src/search/shape.rs.

Usage (from the repository root):
    python3 tools/gen_summary.py [FHIR_DIR] [OUT]

FHIR_DIR defaults to ../shared/fhir (holding profiles-resources.json); OUT defaults to
medilink-fhir/data/r4-summary.json. Standard library only.

Output layout (minified JSON, keys sorted):
    {"<ResourceType>": {"s": [summary element names], "r": [required element names]}}
Choice elements keep their `[x]` suffix (`value[x]`).
"""
import json
import os
import sys


def main():
    fhir_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "shared", "fhir")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join("medilink-fhir", "data", "r4-summary.json")
    with open(os.path.join(fhir_dir, "profiles-resources.json"), encoding="utf-8") as f:
        bundle = json.load(f)
    result = {}
    for entry in bundle["entry"]:
        sd = entry["resource"]
        if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") != "resource":
            continue
        if sd.get("abstract") or sd.get("derivation") == "constraint":
            continue
        name = sd["type"]
        summary, required = [], []
        for element in sd.get("snapshot", {}).get("element", []):
            parts = element["path"].split(".")
            if len(parts) != 2:
                continue
            if element.get("isSummary"):
                summary.append(parts[1])
            if element.get("min", 0) >= 1:
                required.append(parts[1])
        result[name] = {"s": summary, "r": required}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    print(f"{len(result)} resource types -> {out}")


if __name__ == "__main__":
    main()
