"""Validates FHIR R4 (4.0.1) JSON files with fhir.resources, an implementation independent of
medchain: each file must parse as the resource its resourceType names, every element (those of
a Bundle's entries included) checked against the R4 model. Exit status 1 if any is invalid.

Usage: fhir_validate.py FILE..."""

import json
import sys

import fhir.resources
from fhir.resources import construct_fhir_element

assert fhir.resources.__fhir_version__ == "4.0.1", fhir.resources.__fhir_version__
invalid = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    try:
        construct_fhir_element(data["resourceType"], data)
        print(f"valid R4 {data['resourceType']}: {path}")
    except Exception as error:  # noqa: BLE001 - every failure is a finding
        print(f"INVALID {path}: {error}")
        invalid += 1
sys.exit(1 if invalid else 0)
