#!/usr/bin/env python3
"""Generates medilink-fhir/data/r4-model.json, the compact R4 model used by the validator.

Usage (from the repository root):
    python3 tools/gen_model.py [FHIR_DIR] [OUT]

FHIR_DIR defaults to ../shared/fhir (holding profiles-resources.json, profiles-types.json and
valuesets.json); OUT defaults to medilink-fhir/data/r4-model.json. Standard library only.

Output layout (minified JSON):
    {
      "types": {"<Name>": {"k": "resource" | "complex-type" | "primitive-type",
                           "a": true when abstract (omitted otherwise),
                           "e": [element, ...]}},
      "valueSets": {"<url>": {"<system>": ["code", ...]} | null},   # null: not checkable
      "regex": {"<primitive>": "<regex>"}
    }
    element = {"p": path, "n": min, "x": max, "t": [type codes], "b": required value set url,
               "r": contentReference path}   (empty fields omitted)

Reference target profiles are left out: several official R4 examples reference other types
than the targets (DeviceMetric.parent -> DeviceDefinition), so they are not checked.
"""
import json
import os
import sys

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
BOUND_TYPES = {"code", "Coding", "CodeableConcept", "string", "uri"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def type_code(t):
    """The FHIR type code of an ElementDefinition.type (System.* types map via the extension)."""
    code = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                return ext.get("valueUrl") or ext.get("valueUri") or "string"
        return "string"
    return code


def strip_version(url):
    return url.split("|", 1)[0]


def structure_definitions(bundles):
    for bundle in bundles:
        for entry in bundle["entry"]:
            res = entry["resource"]
            if res.get("resourceType") != "StructureDefinition":
                continue
            if res.get("kind") not in ("resource", "complex-type", "primitive-type"):
                continue
            if res.get("derivation", "specialization") != "specialization":
                continue  # profiles (SimpleQuantity, ...) reuse their base's paths
            yield res


def build_types(sds, bound_urls, regexes):
    types = {}
    for sd in sds:
        elements = []
        for el in sd["snapshot"]["element"]:
            out = {"p": el["path"]}
            if el.get("min", 0):
                out["n"] = el["min"]
            out["x"] = el.get("max", "*")
            codes = [type_code(t) for t in el.get("type", [])]
            if sd["kind"] == "resource" and el["path"] == sd["id"] + ".id":
                codes = ["id"]  # R4 types Resource.id as System.String; the spec says `id`
            if codes:
                out["t"] = codes
            binding = el.get("binding")
            if (
                binding
                and binding.get("strength") == "required"
                and binding.get("valueSet")
                and any(c in BOUND_TYPES for c in codes)
            ):
                url = strip_version(binding["valueSet"])
                out["b"] = url
                bound_urls.add(url)
            if el.get("contentReference"):
                out["r"] = el["contentReference"].split("#", 1)[1]
            if sd["kind"] == "primitive-type" and el["path"] == sd["id"] + ".value":
                for t in el.get("type", []):
                    for ext in t.get("extension", []):
                        if ext.get("url") == REGEX_EXT:
                            regexes[sd["id"]] = ext["valueString"]
            elements.append(out)
        entry = {"k": sd["kind"], "e": elements}
        if sd.get("abstract"):
            entry["a"] = True
        types[sd["id"]] = entry
    return types


class Expander:
    """Expands value sets to {system: [codes]} using only the code systems at hand."""

    def __init__(self, valuesets_bundle):
        self.code_systems = {}
        self.value_sets = {}
        for entry in valuesets_bundle["entry"]:
            res = entry["resource"]
            if res["resourceType"] == "CodeSystem":
                self.code_systems[res["url"]] = res
            elif res["resourceType"] == "ValueSet":
                self.value_sets[res["url"]] = res
        self.cache = {}

    def system_codes(self, system):
        cs = self.code_systems.get(system)
        if cs is None or cs.get("content") != "complete":
            return None
        codes = []

        def walk(concepts):
            for c in concepts:
                codes.append(c["code"])
                walk(c.get("concept", []))

        walk(cs.get("concept", []))
        return codes

    def expand(self, url, depth=0):
        url = strip_version(url)
        if url in self.cache:
            return self.cache[url]
        self.cache[url] = None  # guards cycles
        result = self._expand(url, depth)
        self.cache[url] = result
        return result

    def _expand(self, url, depth):
        vs = self.value_sets.get(url)
        if vs is None or depth > 10:
            return None
        if "expansion" in vs and "contains" in vs["expansion"]:
            out = {}

            def walk(items):
                for item in items:
                    if "code" in item and "system" in item:
                        out.setdefault(item["system"], []).append(item["code"])
                    walk(item.get("contains", []))

            walk(vs["expansion"]["contains"])
            return out
        compose = vs.get("compose")
        if not compose:
            return None
        out = {}
        for inc in compose.get("include", []):
            part = self._include(inc, depth)
            if part is None:
                return None
            for system, codes in part.items():
                bucket = out.setdefault(system, [])
                bucket.extend(c for c in codes if c not in bucket)
        for exc in compose.get("exclude", []):
            part = self._include(exc, depth)
            if part is None:
                return None
            for system, codes in part.items():
                if system in out:
                    out[system] = [c for c in out[system] if c not in set(codes)]
        return out

    def _include(self, inc, depth):
        if inc.get("filter"):
            return None
        system = inc.get("system")
        parts = []
        if system:
            if "concept" in inc:
                parts.append({system: [c["code"] for c in inc["concept"]]})
            else:
                codes = self.system_codes(system)
                if codes is None:
                    return None
                parts.append({system: codes})
        for vs_url in inc.get("valueSet", []):
            sub = self.expand(vs_url, depth + 1)
            if sub is None:
                return None
            parts.append(sub)
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        # system and valueSet together mean the intersection
        out = dict(parts[0])
        for sub in parts[1:]:
            out = {s: [c for c in cs if c in set(sub.get(s, []))] for s, cs in out.items()}
        return out


def main():
    fhir_dir = sys.argv[1] if len(sys.argv) > 1 else "../shared/fhir"
    out_path = sys.argv[2] if len(sys.argv) > 2 else "medilink-fhir/data/r4-model.json"
    resources = load(os.path.join(fhir_dir, "profiles-resources.json"))
    datatypes = load(os.path.join(fhir_dir, "profiles-types.json"))
    valuesets = load(os.path.join(fhir_dir, "valuesets.json"))

    bound_urls = set()
    regexes = {}
    types = build_types(structure_definitions([datatypes, resources]), bound_urls, regexes)
    expander = Expander(valuesets)
    value_sets = {url: expander.expand(url) for url in sorted(bound_urls)}
    model = {"types": types, "valueSets": value_sets, "regex": regexes}
    text = json.dumps(model, separators=(",", ":"), ensure_ascii=False, sort_keys=False)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)
        f.write("\n")
    checkable = sum(1 for v in value_sets.values() if v is not None)
    print(
        f"wrote {out_path}: {len(text)} bytes, {len(types)} types, "
        f"{checkable}/{len(value_sets)} required value sets checkable",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
