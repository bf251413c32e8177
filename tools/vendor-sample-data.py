#!/usr/bin/env python3
"""Rebuilds the vendored reference and sample data in shared/edge-core/data/ from two open
data packages (run by hand when they change; the build never runs it):

    npm pack @etalab/decoupage-administratif@6.0.0   (MIT, Etalab)
    pip download faker==40.63.0 --no-deps           (MIT, Faker contributors)

usage: vendor-sample-data.py <unpacked npm package dir> <unpacked faker wheel dir> <out dir>
"""
import json, os, sys, unicodedata, ast

npm, faker, out = sys.argv[1:4]
communes = json.load(open(os.path.join(npm, "data", "communes.json"), encoding="utf-8"))

current = {c["code"]: c for c in communes if c["type"] == "commune-actuelle"}
rows = {}
def history(c):
    return sorted({c["code"], *c.get("anciensCodes", [])})
for c in communes:
    if c["type"] == "commune-actuelle":
        rows[c["code"]] = (c["nom"], c["nom"], c, history(c))
for c in communes:
    if c["type"] == "arrondissement-municipal":
        rows[c["code"]] = (c["nom"], c["nom"], c, [c["code"]])
for c in communes:
    if c["type"] in ("commune-deleguee", "commune-associee") and c["code"] not in rows:
        head = current.get(c.get("chefLieu"))
        if head:
            rows[c["code"]] = (c["nom"], head["nom"], head, history(head))
for c in current.values():
    for old in c.get("anciensCodes", []):
        rows.setdefault(old, (c["nom"], c["nom"], c, history(c)))

with open(os.path.join(out, "communes.tsv"), "w", encoding="utf-8") as f:
    f.write("# code\tname\tnewest_name\tdep\tpostal_codes\thistory\tpopulation\n")
    for code in sorted(rows):
        name, newest, ref, hist = rows[code]
        pop = ref.get("population", 0) if ref["code"] == code else 0
        f.write("\t".join([code, name, newest, ref["departement"],
                           ",".join(ref.get("codesPostaux", [])), ",".join(hist), str(pop)]) + "\n")

src = open(os.path.join(faker, "faker", "providers", "person", "fr_FR", "__init__.py"), encoding="utf-8").read()
tree = ast.parse(src)
lists = {}
for node in ast.walk(tree):
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        name = node.targets[0].id
        if name in ("first_names_male", "first_names_female", "last_names"):
            lists[name] = [e.value for e in node.value.elts]
def fold(s):
    return "".join(ch for ch in unicodedata.normalize("NFKD", s) if ord(ch) < 128).upper()
for name, file in [("last_names", "last-names.txt"), ("first_names_male", "first-names-male.txt"),
                   ("first_names_female", "first-names-female.txt")]:
    seen = []
    for v in lists[name]:
        v = fold(v)
        if v and v not in seen:
            seen.append(v)
    with open(os.path.join(out, file), "w", encoding="ascii") as f:
        f.write("\n".join(seen) + "\n")
