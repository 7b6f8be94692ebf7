#!/usr/bin/env python3
"""convert.py - turn the OpenSanctions transcriptions of the US DoD 1260H and
Section 1286 lists into kvscreen's own list CSV (the "kvs" list format:
id,name,aliases,country,list,severity,reason), which the host's list service
loads.  Run from the checkout with the shared data folder beside it:

    python3 conf/kennisveiligheid/lists/convert.py ../shared/data conf/kennisveiligheid/lists

The list service has no loader for these two CSV layouts; until it has, the
converted files are what the kennisveiligheid plugin loads.
"""
import csv
import hashlib
import os
import sys

COUNTRY = {"China": "CN", "Russia": "RU", "Iran": "IR"}


def write(path, header_lines, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        for line in header_lines:
            f.write("# " + line + "\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "name", "aliases", "country", "list", "severity", "reason"])
        for r in rows:
            w.writerow(r)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def dod_1260h(src, out):
    path = os.path.join(src, "us-dod-1260h-chinese-military-companies", "sanctions.csv")
    rows, seen = [], set()
    for r in csv.DictReader(open(path, encoding="utf-8")):
        if r["End date"].strip():
            continue  # delisted
        name = (r["Clean Name"] or r["Name"]).strip()
        if not name or name in seen:
            continue
        seen.add(name)
        aliases = [a.strip() for a in (r["Alias"], r["Previous Name"], r["Name"].rstrip("*"))
                   if a.strip() and a.strip() != name]
        reason = "DoD 1260H Chinese military company"
        if r["Start date"]:
            reason += " listed " + r["Start date"]
        if r["Parent Name"].strip():
            reason += "; parent: " + r["Parent Name"].strip()
        rid = "1260H-" + hashlib.sha1(name.encode()).hexdigest()[:10]
        rows.append([rid, name, ";".join(dict.fromkeys(aliases)), "CN", "DoD 1260H", "", reason])
    write(os.path.join(out, "dod-1260h.csv"),
          ["US DoD Section 1260H list (FY2021 NDAA, Pub. L. 116-283): Chinese military companies,",
           "current entries (rows with an End date dropped).  Converted by convert.py from the",
           "OpenSanctions transcription datasets/us/dod_chinese_milcorps/sanctions.csv",
           "(commit f33cff233ff4393a8c71784cfe280275727b52ca), sha256 " + sha(path) + ".",
           "Licence: US government work; transcription CC BY-NC 4.0 (OpenSanctions)."], rows)
    return len(rows)


def dod_1286(src, out):
    path = os.path.join(src, "us-dod-section-1286", "section_1286.csv")
    best = {}
    for r in csv.DictReader(open(path, encoding="utf-8")):
        name = r["name"].strip()
        if not name:
            continue
        if name not in best or r["report-date"] > best[name]["report-date"]:
            best[name] = r
    rows = []
    for name, r in sorted(best.items()):
        aliases = [a.strip() for a in r["aliases"].split(";") if a.strip()]
        reason = "DoD Section 1286 list (FY%s)" % r["report-date"]
        if r["reason"].strip():
            reason += ": " + r["reason"].strip()
        rid = "1286-" + hashlib.sha1(name.encode()).hexdigest()[:10]
        rows.append([rid, name, ";".join(aliases), COUNTRY.get(r["country"], ""),
                     "DoD 1286", "", reason])
    write(os.path.join(out, "dod-1286.csv"),
          ["US DoD list of foreign institutions engaging in problematic activities / malign",
           "talent programmes, Section 1286 of the FY2019 NDAA (Pub. L. 115-232), FY2022-FY2025",
           "editions merged (latest edition per name).  Converted by convert.py from the",
           "OpenSanctions transcription datasets/us/special_leg/source_files/section_1286.csv",
           "(commit f33cff233ff4393a8c71784cfe280275727b52ca), sha256 " + sha(path) + ".",
           "Licence: US government work; transcription CC BY-NC 4.0 (OpenSanctions)."], rows)
    return len(rows)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: convert.py SHARED_DATA_DIR OUT_DIR")
    print("dod-1260h.csv:", dod_1260h(sys.argv[1], sys.argv[2]), "entries")
    print("dod-1286.csv:", dod_1286(sys.argv[1], sys.argv[2]), "entries")
