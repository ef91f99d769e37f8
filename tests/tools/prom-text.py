#!/usr/bin/python3
"""Read a Prometheus text exposition (0.0.4) with prometheus_client's parser.

  prom-text.py check FILE SERVICES FAMILY:TYPE...
      FILE parses; it holds no "# EOF" (an OpenMetrics marker); each FAMILY
      is there with TYPE; every family is named magenta_* and has a HELP;
      every sample's service label is one of SERVICES (comma-separated);
      each histogram series has sorted le bounds ending in +Inf,
      non-decreasing bucket counts and a last bucket equal to its _count.
  prom-text.py value FILE SAMPLE [LABELS_JSON]
      prints the sum of SAMPLE's values whose labels include LABELS_JSON
      (0 when none).

Exit 0 on success; an assertion failure exits non-zero and says which.
Used by tests/http/50-metrics.bats and 51-daemon-metrics.bats.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def families(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert "# EOF" not in text, "# EOF in a 0.0.4 text"
    return {f.name: f for f in text_string_to_metric_families(text)}


def check(path, services, wants):
    fams = families(path)
    allowed = services.split(",")
    for want in wants:
        name, typ = want.split(":")
        assert name in fams, "no family " + name
        assert fams[name].type == typ, "%s is %s, not %s" % (name, fams[name].type, typ)
    for f in fams.values():
        assert f.name.startswith("magenta_"), f.name
        assert f.documentation, "no HELP for " + f.name
        series = {}
        for s in f.samples:
            assert s.labels.get("service") in allowed, s
            if f.type != "histogram":
                continue
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            series.setdefault(key, {"b": [], "count": None})
            if s.name.endswith("_bucket"):
                series[key]["b"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
        for key, h in series.items():
            les = [le for le, _ in h["b"]]
            vals = [v for _, v in h["b"]]
            assert les and les == sorted(les) and les[-1] == float("inf"), (f.name, key, les)
            assert vals == sorted(vals), (f.name, key, vals)
            assert vals[-1] == h["count"], (f.name, key, vals[-1], h["count"])


def value(path, sample, want):
    total = 0.0
    for fam in families(path).values():
        for s in fam.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in want.items()):
                total += s.value
    print(int(total) if total == int(total) else total)


def main(argv):
    if len(argv) >= 4 and argv[1] == "check":
        check(argv[2], argv[3], argv[4:])
    elif len(argv) in (4, 5) and argv[1] == "value":
        value(argv[2], argv[3], json.loads(argv[4]) if len(argv) == 5 else {})
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
