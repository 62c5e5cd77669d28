#!/usr/bin/env python3
"""Converts HL7's FHIRPath Patch test cases (fhir-test-cases r4/patch/fhir-patch-tests.xml, XML)
into FHIR JSON for medilink-fhir's test (medilink-fhir/tests/data/fhirpatch/).

Usage: tools/fhir/patch_tests.py FHIR_DEFINITIONS_DIR PATCH_TESTS_XML OUT_JSON

FHIR_DEFINITIONS_DIR holds the official R4 profiles-resources.json and profiles-types.json; they
say which elements repeat (JSON arrays) and which types are primitives (JSON values with the
right JSON type), as the R4 JSON format requires.
"""
import json
import sys
import xml.etree.ElementTree as ET

FHIR = "{http://hl7.org/fhir}"
XHTML = "http://www.w3.org/1999/xhtml"
NUMBERS = {"integer", "positiveInt", "unsignedInt", "decimal"}


def load_elements(directory):
    elements, kinds = {}, {}
    for name in ("profiles-types.json", "profiles-resources.json"):
        with open(f"{directory}/{name}") as f:
            bundle = json.load(f)
        for entry in bundle["entry"]:
            sd = entry["resource"]
            if sd.get("resourceType") != "StructureDefinition" or sd.get("derivation") == "constraint":
                continue
            kinds[sd["type"]] = sd["kind"]
            for element in sd["snapshot"]["element"]:
                elements[element["path"]] = element
    return elements, kinds


class Converter:
    def __init__(self, elements, kinds):
        self.elements, self.kinds = elements, kinds

    def element(self, context, name):
        """(element definition, type code) of property `name` under `context`."""
        direct = self.elements.get(f"{context}.{name}")
        if direct is not None:
            types = direct.get("type") or [{"code": "Element"}]
            return direct, types[0]["code"]
        for element_path, element in self.elements.items():
            if not element_path.startswith(f"{context}.") or not element_path.endswith("[x]"):
                continue
            stem = element_path[len(context) + 1:-3]
            if "." in stem or not name.startswith(stem):
                continue
            suffix = name[len(stem):]
            for t in element.get("type", []):
                if t["code"][:1].upper() + t["code"][1:] == suffix:
                    return element, t["code"]
        raise KeyError(f"{context}.{name}")

    def child_context(self, element, type_code):
        if "contentReference" in element:
            return element["contentReference"].lstrip("#")
        prefix = element["path"] + "."
        if any(p.startswith(prefix) for p in self.elements):
            return element["path"]
        return type_code

    def resource(self, node):
        resource_type = node.tag[len(FHIR):]
        out = {"resourceType": resource_type}
        self.children(node, resource_type, out)
        return out

    def children(self, node, context, out):
        if node.get("url") is not None:
            out["url"] = node.get("url")
        for child in node:
            if child.tag == "{%s}div" % XHTML:
                out["div"] = ET.tostring(child, encoding="unicode").strip()
                continue
            if not isinstance(child.tag, str) or not child.tag.startswith(FHIR):
                continue
            name = child.tag[len(FHIR):]
            element, type_code = self.element(context, name)
            repeats = element["max"] != "1"
            if type_code == "Resource" or (type_code not in self.kinds and name in ("resource", "contained")):
                value, companion = self.resource(list(child)[0]), None
            elif self.kinds.get(type_code) == "primitive-type" or type_code.startswith("http://"):
                value, companion = self.primitive(child, type_code)
            else:
                value, companion = {}, None
                if child.get("id"):
                    value["id"] = child.get("id")
                self.children(child, self.child_context(element, type_code), value)
            if repeats:
                out.setdefault(name, []).append(value)
                if companion is not None:
                    out.setdefault("_" + name, []).append(companion)
            else:
                out[name] = value
                if companion is not None:
                    out["_" + name] = companion

    def primitive(self, node, type_code):
        if type_code == "xhtml":
            return ET.tostring(node, encoding="unicode").strip(), None
        raw = node.get("value")
        value = raw
        if raw is not None:
            if type_code == "boolean":
                value = raw == "true"
            elif type_code in NUMBERS:
                value = float(raw) if type_code == "decimal" else int(raw)
        companion = None
        extensions = [c for c in node if isinstance(c.tag, str) and c.tag == FHIR + "extension"]
        if extensions or node.get("id"):
            companion = {}
            if node.get("id"):
                companion["id"] = node.get("id")
            self.children(node, "Element", companion)
        return value, companion


def main():
    definitions, source, target = sys.argv[1:4]
    ET.register_namespace("", XHTML)
    converter = Converter(*load_elements(definitions))
    cases = []
    for case in ET.parse(source).getroot().iter("case"):
        out = {"name": case.get("name"), "mode": case.get("mode")}
        for part in ("input", "diff", "output"):
            node = case.find(part)
            if node is not None:
                out[part] = converter.resource(list(node)[0])
        error = case.find("error")
        if error is not None:
            out["error"] = error.get("msg")
        cases.append(out)
    with open(target, "w") as f:
        json.dump({"source": "HL7 fhir-test-cases r4/patch/fhir-patch-tests.xml (Apache-2.0), converted by tools/fhir/patch_tests.py", "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
