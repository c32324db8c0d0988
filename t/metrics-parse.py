#!/usr/bin/python3
"""metrics-parse.py: reads a Prometheus text exposition from stdin with prometheus_client's
own parser and prints it as JSON: {"families": {name: {"type", "help"}}, "samples":
[[name, {label: value}, value]]}. A text the parser refuses exits non-zero with its error."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families, samples = {}, []
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {"type": family.type, "help": family.documentation}
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
json.dump({"families": families, "samples": samples}, sys.stdout)
