#!/usr/bin/env python3
"""Reads a Portico node's logs/apim_metrics.log as WSO2's ELK setup does and prints the counts.

Line by line, as Filebeat's input (`include_lines: ['(apimMetrics):']`), each line parsed with the
grok pattern of WSO2's "ELK Based Analytics Installation Guide" (Logstash filter
`%{GREEDYDATA:UNWANTED}\\ apimMetrics:%{GREEDYDATA:apimMetrics}\\, %{GREEDYDATA:UNWANTED} \\:%{GREEDYDATA:properties}`,
GREEDYDATA being `.*`) and its `properties` read as JSON (the `json { source => "properties" }`
filter). Prints one JSON object: events by type, by proxyResponseCode, faults by errorCode and
errorType, events by applicationName, and the correlation ids seen.

usage: elk_counts.py <apim_metrics.log>
"""
import json
import re
import sys
from collections import Counter

INCLUDE = re.compile(r"(apimMetrics):")
GROK = re.compile(r"^(?P<UNWANTED>.*)\ apimMetrics:(?P<apimMetrics>.*)\, (?P<UNWANTED2>.*) \:(?P<properties>.*)$")


def main(path):
    kinds, statuses, codes, types, apps = Counter(), Counter(), Counter(), Counter(), Counter()
    correlation_ids = []
    with open(path, encoding="utf-8") as log:
        for line in log:
            line = line.rstrip("\n")
            if not INCLUDE.search(line):
                continue
            match = GROK.match(line)
            if match is None:
                raise SystemExit(f"line does not match WSO2's grok pattern: {line}")
            kind = match.group("apimMetrics")
            event = json.loads(match.group("properties"))
            kinds[kind] += 1
            statuses[str(event["proxyResponseCode"])] += 1
            apps[event.get("applicationName") or ""] += 1
            if kind == " apim:faulty":
                codes[str(event["errorCode"])] += 1
                types[event["errorType"]] += 1
            correlation_ids.append(event["correlationId"])
    print(json.dumps({
        "events": sum(kinds.values()),
        "kinds": kinds,
        "statuses": statuses,
        "errorCodes": codes,
        "errorTypes": types,
        "applications": apps,
        "correlationIds": correlation_ids,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
