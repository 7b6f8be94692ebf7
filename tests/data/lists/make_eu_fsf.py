#!/usr/bin/env python3
"""make_eu_fsf.py - builds tests/data/lists/eu_fsf.xml, an EU FSF-schema fixture.

Writes the official EU Financial Sanctions Files consolidated list format
("xmlFullSanctionsList_1_1") from the per-regulation annex transcription in
../shared/data/eu-sanctions-by-regulation/consolidated/ (OpenSanctions, CC
BY-NC 4.0: for tests only, never shipped in conf/).  The first persons and
entities of several regimes: Russia/Ukraine (Reg. 269/2014), Russia Annex IV
of Reg. 833/2014, Iran (Reg. 267/2012), Belarus (Reg. 765/2006) and the DPRK
(Reg. 2017/1509).  The logicalId and euReferenceNumber are made up from the
regulation and row number (the transcription has none).

    python3 tests/data/lists/make_eu_fsf.py ../shared/data > tests/data/lists/eu_fsf.xml
"""
import csv
import sys
from xml.sax.saxutils import quoteattr, escape

# celex, programme, numberTitle, annexes to take, rows per annex
REGIMES = [
    ("32014R0269", "UKR", "269/2014 (OJ L78)", {"I.PERSONS": 12, "I.ENTITIES": 8}),
    ("32014R0833", "RUS", "833/2014 (OJ L229)", {"IV": 15}),
    ("32012R0267", "IRN", "267/2012 (OJ L88)", {"VIII.A.PERSONS": 6, "VIII.A.ENTITIES": 6,
                                                 "IX.I.B": 6}),
    ("32006R0765", "BLR", "765/2006 (OJ L134)", {"I.A": 8, "I.B": 6}),
    ("32017R1509", "PRK", "2017/1509 (OJ L224)", {"XIII.A": 8, "XIII.B": 8}),
]

NATIONALITY = {
    "Russian": "RU", "Belarusian": "BY", "Ukrainian": "UA", "Iranian": "IR",
    "Iran (Islamic Republic of)": "IR", "Iran": "IR", "DPRK": "KP", "DPRK.": "KP",
    "Serbian": "RS",
}
COUNTRY = {"Russia": "RU", "Belarus": "BY", "Iran": "IR", "DPRK": "KP"}
ENTITY = {"LegalEntity", "Company", "Organization"}


def iso_date(d):
    """'26.11.1972' -> ('1972-11-26', '1972'); '1958' -> (None, '1958')."""
    d = d.strip()
    parts = d.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return "%04d-%02d-%02d" % (int(parts[2]), int(parts[1]), int(parts[0])), parts[2]
    if d.isdigit() and len(d) == 4:
        return None, d
    return None, None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    out = sys.stdout
    out.write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n')
    out.write('<export xmlns="http://eu.europa.ec/fpi/fsd/export" '
              'generationDate="2026-06-01T10:00:00.000+02:00" globalFileId="171234">\n')
    logical = 100000
    for celex, prog, num, annexes in REGIMES:
        path = "%s/eu-sanctions-by-regulation/consolidated/%s.csv" % (root, celex)
        taken = {a: 0 for a in annexes}
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                annex = row["annex"]
                if annex not in annexes or taken[annex] >= annexes[annex]:
                    continue
                if row["schema"] != "Person" and row["schema"] not in ENTITY:
                    continue
                taken[annex] += 1
                logical += 1
                person = row["schema"] == "Person"
                ref = "EU.%d.%s" % (int(celex[6:]), row["recordId"])
                out.write('  <sanctionEntity designationDate="%s" logicalId="%d" '
                          'euReferenceNumber=%s unitedNationId="">\n'
                          % (iso_date(row["startDate"])[0] or "", logical, quoteattr(ref)))
                if row["reason"]:
                    out.write("    <remark>%s</remark>\n" % escape(row["reason"][:2000]))
                out.write('    <regulation regulationType="regulation" organisationType="council" '
                          'publicationDate="2014-03-17" entryIntoForceDate="2014-03-17" '
                          'numberTitle=%s programme="%s" logicalId="%d">\n'
                          '      <publicationUrl>https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:%s</publicationUrl>\n'
                          '    </regulation>\n' % (quoteattr(num), prog, logical, celex))
                out.write('    <subjectType code="%s" classificationCode="%s"/>\n'
                          % (("person", "P") if person else ("enterprise", "E")))
                names = [row["name"]] + [a.strip() for a in row["alias"].split(";") if a.strip()]
                for i, n in enumerate(names):
                    out.write('    <nameAlias firstName="" middleName="" lastName="" wholeName=%s '
                              'function="" gender="%s" title="" nameLanguage="" strong="%s" '
                              'regulationLanguage="en" logicalId="%d">\n'
                              '      <regulationSummary regulationType="regulation" '
                              'publicationDate="2014-03-17" numberTitle=%s/>\n'
                              '    </nameAlias>\n'
                              % (quoteattr(n), {"male": "M", "female": "F"}.get(row["gender"], ""),
                                 "true" if i == 0 else "false", logical * 10 + i, quoteattr(num)))
                for nat in [x.strip() for x in row["nationality"].split(",") if x.strip()]:
                    if nat in NATIONALITY:
                        out.write('    <citizenship region="" countryIso2Code="%s" '
                                  'countryDescription="" logicalId="%d"/>\n'
                                  % (NATIONALITY[nat], logical))
                for b in [x for x in row["birthDate"].split(";") if x.strip()]:
                    full, year = iso_date(b)
                    if year:
                        out.write('    <birthdate circa="false" calendarType="GREGORIAN" city="" '
                                  'zipCode="" region="" place="" %syear="%s" countryIso2Code="00" '
                                  'logicalId="%d"/>\n'
                                  % ('birthdate="%s" ' % full if full else "", year, logical))
                if row["country"] in COUNTRY:
                    out.write('    <address city="" street="" poBox="" zipCode="" region="" '
                              'place="" asAtListingTime="false" countryIso2Code="%s" '
                              'countryDescription="" logicalId="%d"/>\n'
                              % (COUNTRY[row["country"]], logical))
                elif not person and celex == "32014R0833":
                    out.write('    <address countryIso2Code="RU" countryDescription="RUSSIAN FEDERATION" '
                              'logicalId="%d"/>\n' % logical)
                out.write("  </sanctionEntity>\n")
    out.write("</export>\n")


if __name__ == "__main__":
    main()
