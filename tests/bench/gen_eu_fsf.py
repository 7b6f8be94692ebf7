#!/usr/bin/env python3
"""gen_eu_fsf.py - writes a synthetic EU FSF consolidated list XML of a mid-2026 size.

The shape of xmlFullSanctionsList_1_1 (root <export> in the FSF namespace,
one <sanctionEntity> per listing with regulation, subjectType, nameAlias,
citizenship, birthdate, address, identification and remark elements and
their nested regulationSummary), with made-up names: by default 6,200
entries (4,470 persons, 1,730 enterprises) and 62,000 name aliases, about
25 MB, as the official file of mid-2026.  Deterministic (fixed seed).

    python3 tests/bench/gen_eu_fsf.py [ENTRIES [ALIASES]] > fsf.xml
"""
import random
import sys

SYL = ["al", "an", "ar", "ba", "be", "da", "de", "el", "en", "go", "ha", "ia", "ka", "ko",
       "la", "li", "ma", "mi", "na", "no", "ov", "ra", "ri", "sa", "se", "ta", "to", "va",
       "vi", "ya", "za", "zh", "kh", "yev", "sky", "ich", "ova", "enko"]
PROG = [("RUS", "833/2014 (OJ L229)"), ("UKR", "269/2014 (OJ L78)"), ("BLR", "765/2006 (OJ L134)"),
        ("IRN", "267/2012 (OJ L88)"), ("PRK", "2017/1509 (OJ L224)"), ("SYR", "36/2012 (OJ L16)")]
CC = ["RU", "BY", "IR", "KP", "SY", "UA", "CN", "AE", "TR", "KZ"]


def word(r):
    return "".join(r.choice(SYL) for _ in range(r.randint(2, 4))).capitalize()


def summary(num, url=True):
    return ('      <regulationSummary regulationType="amendment" publicationDate="2024-02-23" '
            'numberTitle="%s"%s/>\n'
            % (num, ' publicationUrl="https://eur-lex.europa.eu/legal-content/EN/TXT/'
               '?uri=OJ:L_202400753"' if url else ""))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 6200
    n_alias = int(sys.argv[2]) if len(sys.argv) > 2 else 62000
    persons = n * 4470 // 6200
    r = random.Random(2026)
    w = sys.stdout.write
    w('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n')
    w('<export xmlns="http://eu.europa.ec/fpi/fsd/export" generationDate="2026-06-01T10:00:00.000+02:00" '
      'globalFileId="171234">\n')
    for i in range(n):
        person = i < persons
        prog, num = r.choice(PROG)
        k = n_alias // n + (1 if i < n_alias % n else 0)
        w('  <sanctionEntity designationDate="2022-02-23" designationDetails="" unitedNationId="" '
          'euReferenceNumber="EU.%d.%d" logicalId="%d">\n' % (i // 100, i % 100, 10000 + i))
        w('    <remark>(Date of UN designation: 2022-02-23) Synthetic remark for the load benchmark, '
          'listing %d under %s.</remark>\n' % (i, prog))
        w('    <regulation regulationType="amendment" organisationType="council" '
          'publicationDate="2022-02-23" entryIntoForceDate="2022-02-23" numberTitle="%s" '
          'programme="%s" logicalId="%d">\n      <publicationUrl>https://eur-lex.europa.eu/'
          'legal-content/EN/TXT/?uri=OJ:L:2022:042I:FULL</publicationUrl>\n    </regulation>\n'
          % (num, prog, 20000 + i))
        w('    <subjectType code="%s" classificationCode="%s"/>\n'
          % (("person", "P") if person else ("enterprise", "E")))
        base = [word(r), word(r), word(r).upper()] if person else [word(r), word(r), "LLC"]
        for a in range(k):
            parts = base if a == 0 else [p if r.random() < 0.4 else word(r) for p in base]
            whole = " ".join(parts)
            w('    <nameAlias firstName="%s" lastName="%s" wholeName="%s" '
              'gender="%s" nameLanguage="%s" strong="%s" regulationLanguage="en" '
              'logicalId="%d">\n%s    </nameAlias>\n'
              % (parts[0] if person else "", parts[-1] if person else "", whole,
                 "M" if person else "", r.choice(["", "EN", "RU", "UK"]),
                 "true" if a < 2 else "false", 30000 + i * 20 + a, summary(num, False) if a < 3 else ""))
        if person:
            w('    <citizenship region="" countryIso2Code="%s" countryDescription="" logicalId="%d">\n%s'
              '    </citizenship>\n' % (r.choice(CC), 40000 + i, summary(num)))
            w('    <birthdate circa="false" calendarType="GREGORIAN" city="" zipCode="" region="" '
              'place="" birthdate="%d-%02d-%02d" dayOfMonth="1" monthOfYear="1" year="%d" '
              'countryIso2Code="00" countryDescription="UNKNOWN" logicalId="%d">\n%s    </birthdate>\n'
              % (r.randint(1940, 1995), r.randint(1, 12), r.randint(1, 28), 1960, 50000 + i,
                 summary(num)))
        w('    <address city="%s" street="%s street %d" poBox="" zipCode="%d" region="" place="" '
          'asAtListingTime="false" countryIso2Code="%s" countryDescription="" logicalId="%d">\n%s'
          '    </address>\n' % (word(r), word(r), r.randint(1, 99), r.randint(100000, 999999),
                                r.choice(CC), 60000 + i, summary(num)))
        w('    <identification diplomatic="false" knownExpired="false" knownFalse="false" '
          'reportedLost="false" revokedByIssuer="false" issuedBy="" issuedDate="" validFrom="" '
          'validTo="" latinNumber="" nameOnDocument="" number="%d" region="" countryIso2Code="%s" '
          'identificationTypeCode="%s" logicalId="%d">\n%s    </identification>\n'
          % (r.randint(10**8, 10**9), r.choice(CC), "passport" if person else "regnumber",
             70000 + i, summary(num)))
        w('  </sanctionEntity>\n')
    w('</export>\n')


if __name__ == "__main__":
    main()
