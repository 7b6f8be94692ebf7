#!/usr/bin/env python3
"""gen.py - builds the name-matching test set of tests/data/names/ from the
lists and the CORDIS sample in ../shared/data (deterministic: same data, same
output).

    python3 tests/data/names/gen.py [SHARED_DATA_DIR]

Writes, beside this script:
  variants.tsv   list <TAB> source name <TAB> class <TAB> query
                 Variants of listed research institutions and companies as an
                 officer would meet them; the test resolves "source name" to
                 its entry in "list" (an exact-name match) and expects the
                 query to find that entry.
  orgs.tsv       real European organisation names (CORDIS), negatives.
  persons.tsv    name <TAB> nationality: common person names of several
                 cultures, negatives for a person hit on the name alone.

Classes: abbrev (Univ., Inst., Sci., Tech. ...), legal (legal form added,
removed or moved: "JSC X Concern" / "X Concern JSC"), official (long official
form: "Federal State Budgetary Institution of Science X", "X (National
Research University)"), acronym (the list's own acronym), order (sub-units
and "X of Y" / "Y X"), script (Cyrillic alias written with another common
Latin transliteration, or the CJK alias as listed), alias (former and local
names the list gives), typo (two letters swapped in the longest word).
"""
import csv
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '../../../../shared/data')

ABBREV = [
    ('University', 'Univ.'), ('Institute', 'Inst.'), ('Sciences', 'Sci.'),
    ('Science', 'Sci.'), ('Technology', 'Tech.'), ('National', 'Natl.'),
    ('Research', 'Res.'), ('Academy', 'Acad.'), ('Laboratory', 'Lab.'),
    ('Corporation', 'Corp.'), ('Company', 'Co.'), ('Organization', 'Org.'),
    ('Engineering', 'Eng.'), ('International', 'Intl.'), ('Industries', 'Ind.'),
    ('Center', 'Ctr.'), ('Centre', 'Ctr.'), ('Group', 'Grp.'),
    ('Manufacturing', 'Mfg.'), ('Department', 'Dept.'), ('Holdings', 'Hldgs.'),
]
LEGAL_FIRST = ('JSC', 'OJSC', 'PJSC', 'CJSC', 'OOO', 'AO', 'OAO', 'ZAO', 'PAO',
               'LLC', 'FGUP', 'FGBU')
LEGAL_LAST = ('Co., Ltd.', 'Co. Ltd.', 'Co., Ltd', 'Ltd.', 'Ltd', 'Inc.',
              'Inc', 'LLC', 'JSC', 'GmbH', 'Limited', 'Corporation', 'Corp.',
              'Co.', 'PJSC', 'OJSC', 'OOO', 'AO')

# Cyrillic written with another common Latin romanisation than the matcher's
# BGN/PCGN table (ISO 9 / GOST-like and German-style choices).
ALT_TRANSLIT = {
    'а': 'a', 'б': 'b', 'в': 'v', 'г': 'g', 'д': 'd', 'е': 'e', 'ё': 'jo',
    'ж': 'zh', 'з': 'z', 'и': 'i', 'й': 'j', 'к': 'k', 'л': 'l', 'м': 'm',
    'н': 'n', 'о': 'o', 'п': 'p', 'р': 'r', 'с': 's', 'т': 't', 'у': 'u',
    'ф': 'f', 'х': 'h', 'ц': 'c', 'ч': 'ch', 'ш': 'sh', 'щ': 'shh', 'ъ': '',
    'ы': 'y', 'ь': '', 'э': 'e', 'ю': 'ju', 'я': 'ja',
}


def translit(s):
    out = []
    for ch in s:
        lo = ch.lower()
        if lo in ALT_TRANSLIT:
            t = ALT_TRANSLIT[lo]
            out.append(t.capitalize() if ch != lo and t else t)
        else:
            out.append(ch)
    return ''.join(out)


def is_cyr(s):
    return re.search('[А-Яа-яЁё]', s) is not None


def is_cjk(s):
    return re.search('[\u4e00-\u9fff]', s) is not None


def is_acronym(s):
    return re.fullmatch(r'[A-Z][A-Z0-9&-]{2,9}', s.strip()) is not None


def abbrev(name):
    out, n = name, 0
    for full, ab in ABBREV:
        out, k = re.subn(r'\b%s\b' % full, ab, out, flags=re.I)
        n += k
    return out if n else None


def legal(name):
    words = name.split()
    if words and words[0].strip(',') in LEGAL_FIRST:
        return ' '.join(words[1:]) + ' ' + words[0].strip(',')
    for lf in LEGAL_LAST:
        if name.endswith(' ' + lf) or name.endswith(', ' + lf):
            base = name[:-len(lf)].rstrip(' ,')
            return 'JSC ' + base if lf in LEGAL_FIRST else base
    return name + ' Co., Ltd.'


def official(name):
    if re.search(r'\bUniversity\b', name, re.I):
        return name + ' (National Research University)'
    if re.search(r'\b(Institute|Academy|Laboratory|Center|Centre)\b', name, re.I):
        return 'Federal State Budgetary Institution of Science ' + name
    return 'Joint Stock Company ' + name


def order(name):
    if ', ' in name:
        a, b = name.split(', ', 1)
        return b + ' – ' + a
    m = re.match(r'(.+?) of (the )?(.+)$', name)
    if m and len(m.group(3).split()) >= 1:
        return m.group(3) + ' ' + m.group(1)
    return None


def typo(name):
    words = re.findall(r'[A-Za-z]+', name)
    if not words:
        return None
    w = max(words, key=len)
    if len(w) < 7:
        return None
    i = len(w) // 2
    t = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    return name.replace(w, t, 1)


def aspi_entities():
    d = json.load(open(os.path.join(DATA, 'aspi-china-defence-universities/china-defence-universities.json')))
    for v in d['values']:
        name = v['value']
        latin = re.sub(r'\s*[\(（][^\)）]*[\u4e00-\u9fff][^\)）]*[\)）]', '', name).strip()
        aliases = v.get('meta', {}).get('aliases', [])
        yield 'aspi', latin, aliases


def table_entities(list_name, path, name_col, alias_cols):
    with open(os.path.join(DATA, path), newline='') as f:
        for r in csv.DictReader(f):
            name = (r.get(name_col) or '').strip().rstrip('*').strip()
            if not name:
                continue
            al = []
            for c in alias_cols:
                al += [a.strip() for a in (r.get(c) or '').split(';') if a.strip()]
            m = re.search(r'\(([^)]+)\)\s*$', name)
            if m:
                al.append(m.group(1))
            yield list_name, name, al


def csl_entities():
    with open(os.path.join(DATA, 'us-csl-2023-subset/csl.csv'), newline='') as f:
        for r in csv.DictReader(f):
            if r['type'] != 'Entity' or not r['source'].startswith('Entity List'):
                continue
            yield 'csl', r['name'].strip(), [a.strip() for a in r['alt_names'].split(';') if a.strip()]


def eu_entities():
    for p in sorted(glob.glob(os.path.join(DATA, 'eu-sanctions-by-regulation/consolidated/*.csv'))):
        with open(p, newline='') as f:
            for r in csv.DictReader(f):
                if r['schema'] != 'LegalEntity' or not r['name'].strip():
                    continue
                al = [a.strip() for a in (r['alias'] + ';' + r['previousName']).split(';') if a.strip()]
                yield 'eu', r['name'].strip(), al


def every(it, step, limit):
    out = []
    for i, x in enumerate(it):
        if i % step == 0:
            out.append(x)
        if len(out) >= limit:
            break
    return out


def main():
    ents = []
    ents += list(aspi_entities())
    ents += every(table_entities('dod_1260h', 'us-dod-1260h-chinese-military-companies/sanctions.csv',
                                 'Name', ['Alias', 'Previous Name', 'Clean Name']), 3, 80)
    ents += every(table_entities('dod_1286', 'us-dod-section-1286/section_1286.csv',
                                 'name', ['aliases']), 3, 100)
    ents += every(csl_entities(), 7, 60)
    # EU entities with a Cyrillic alias (Russian institutes and companies).
    eu = [e for e in eu_entities() if any(is_cyr(a) for a in e[2]) and not is_cyr(e[1])]
    ents += every(eu, max(1, len(eu) // 60), 60)

    rows, seen = [], set()

    def add(lst, src, cls, q):
        if q and q.strip() and q.strip() != src and (lst, src, cls) not in seen:
            seen.add((lst, src, cls))
            rows.append((lst, src, cls, q.strip()))

    for lst, name, aliases in ents:
        if len(name) > 200 or is_cyr(name) or is_cjk(name):
            continue
        add(lst, name, 'abbrev', abbrev(name))
        add(lst, name, 'legal', legal(name))
        add(lst, name, 'official', official(name))
        add(lst, name, 'order', order(name))
        add(lst, name, 'typo', typo(name))
        acr = [a for a in aliases if is_acronym(a)]
        if acr:
            add(lst, name, 'acronym', acr[0])
        cyr = [a for a in aliases if is_cyr(a)]
        cjk = [a for a in aliases if is_cjk(a)]
        if cyr:
            add(lst, name, 'script', translit(cyr[0]))
        elif cjk:
            add(lst, name, 'script', cjk[0])
        other = [a for a in aliases if not is_acronym(a) and not is_cyr(a)
                 and not is_cjk(a) and len(a) > 8]
        if other:
            add(lst, name, 'alias', other[0])

    with open(os.path.join(HERE, 'variants.tsv'), 'w') as f:
        f.write('# list\tsource name\tclass\tquery (generated by gen.py; do not edit)\n')
        for r in rows:
            f.write('\t'.join(x.replace('\t', ' ') for x in r) + '\n')

    orgs = set()
    with open(os.path.join(DATA, 'cordis-china-partner-projects/organizations.csv'), newline='') as f:
        for r in csv.DictReader(f):
            if r['is_chinese'] != '1' and r['country'] not in ('CN', 'RU', 'HK', 'BY', 'IR', 'KP'):
                orgs.add(r['org_name'].strip())
    with open(os.path.join(DATA, 'cordis-horizon-europe-sample-100/organization_df_100.csv'), newline='') as f:
        for r in csv.DictReader(f):
            if r['country'] not in ('CN', 'RU', 'HK', 'BY', 'IR', 'KP'):
                orgs.add(r['name'].strip())
    with open(os.path.join(HERE, 'orgs.tsv'), 'w') as f:
        f.write('# European organisation names from CORDIS (generated by gen.py)\n')
        for o in sorted(x for x in orgs if x):
            f.write(o.replace('\t', ' ') + '\n')

    # Common given names and surnames of several cultures (facts: the most
    # frequent names as published national statistics list them).
    cultures = [
        ('CN', ['Wei', 'Fang', 'Na', 'Min', 'Jing', 'Li', 'Qiang', 'Lei', 'Jun', 'Yang', 'Yong', 'Jie'],
               ['Zhang', 'Wang', 'Li', 'Liu', 'Chen', 'Yang', 'Huang', 'Zhao', 'Wu', 'Zhou']),
        ('RU', ['Sergey', 'Aleksandr', 'Dmitry', 'Andrey', 'Alexey', 'Ivan', 'Mikhail', 'Olga', 'Elena', 'Tatiana'],
               ['Ivanov', 'Smirnov', 'Kuznetsov', 'Popov', 'Vasiliev', 'Petrov', 'Sokolov', 'Mikhailov', 'Novikov', 'Fedorov']),
        ('KR', ['Min-jun', 'Seo-yeon', 'Ji-hoon', 'Chol', 'Young-ho', 'Hyun-woo', 'Su-bin', 'Jae-won', 'Eun-ji', 'Sung-min'],
               ['Kim', 'Lee', 'Park', 'Choi', 'Jung', 'Kang', 'Cho', 'Yoon', 'Jang', 'Lim']),
        ('IR', ['Mohammad', 'Ali', 'Hossein', 'Reza', 'Mehdi', 'Fatemeh', 'Zahra', 'Maryam', 'Hassan', 'Amir'],
               ['Hosseini', 'Mohammadi', 'Rezaei', 'Ahmadi', 'Karimi', 'Moradi', 'Jafari', 'Rahimi', 'Ali', 'Hashemi']),
        ('EG', ['Mohamed', 'Ahmed', 'Mahmoud', 'Mustafa', 'Omar', 'Youssef', 'Fatma', 'Aisha', 'Ibrahim', 'Khaled'],
               ['Hassan', 'Ali', 'Ibrahim', 'Mohamed', 'Abdullah', 'Salem', 'Saleh', 'Mansour', 'Said', 'Khalil']),
        ('IN', ['Rahul', 'Amit', 'Priya', 'Sunita', 'Rajesh', 'Anil', 'Deepak', 'Pooja', 'Vijay', 'Sanjay'],
               ['Kumar', 'Singh', 'Sharma', 'Patel', 'Gupta', 'Reddy', 'Das', 'Khan', 'Yadav', 'Shah']),
        ('TR', ['Mehmet', 'Mustafa', 'Ahmet', 'Ali', 'Hüseyin', 'Hasan', 'Ayşe', 'Fatma', 'Emine', 'Murat'],
               ['Yılmaz', 'Kaya', 'Demir', 'Şahin', 'Çelik', 'Yıldız', 'Yıldırım', 'Öztürk', 'Aydın', 'Özdemir']),
        ('NL', ['Jan', 'Pieter', 'Daan', 'Sanne', 'Emma', 'Lars', 'Anna', 'Thomas', 'Lotte', 'Ruben'],
               ['de Jong', 'Jansen', 'de Vries', 'van den Berg', 'van Dijk', 'Bakker', 'Janssen', 'Visser', 'Smit', 'Meijer']),
        ('VN', ['Anh', 'Minh', 'Hung', 'Linh', 'Huong', 'Tuan', 'Thanh', 'Duc', 'Lan', 'Hoa'],
               ['Nguyen', 'Tran', 'Le', 'Pham', 'Hoang', 'Phan', 'Vu', 'Dang', 'Bui', 'Do']),
    ]
    persons = []
    for cc, given, family in cultures:
        for i, g in enumerate(given):
            for j, s in enumerate(family):
                if (i + 2 * j) % 5 < 3 or (g, s) in (('Wei', 'Zhang'),):
                    first = (cc in ('CN', 'KR', 'VN') and s + ' ' + g) or g + ' ' + s
                    persons.append((first, cc))
    # The names the issue reports as wrongly denied, always in.
    for n, cc in (('Zhang Wei', 'CN'), ('Sergey Ivanov', 'RU'), ('Kim Chol', 'KP'),
                  ('Mohammad Ali', 'IR'), ('Mohammad Hosseini', 'IR'), ('Ali Rezaei', 'IR')):
        if (n, cc) not in persons:
            persons.append((n, cc))
    with open(os.path.join(HERE, 'persons.tsv'), 'w') as f:
        f.write('# name\tnationality: common person names (generated by gen.py)\n')
        for n, cc in persons:
            f.write('%s\t%s\n' % (n, cc))
    print('variants %d (%d entities), orgs %d, persons %d' %
          (len(rows), len(set((r[0], r[1]) for r in rows)), len(orgs), len(persons)))


if __name__ == '__main__':
    main()
