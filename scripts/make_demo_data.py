#!/usr/bin/env python3
"""Generate the project's own demo data sets in data/demo/ (committed; re-run to regenerate).

- data/demo/ner/{train,dev,test}.conll: English financial-news sentences, `token<TAB>tag`,
  IOB2, entity types ORG, PER, LOC, MONEY. Documents separated by -DOCSTART- lines.
- data/demo/sentiment/sentences.txt: `sentence@label` lines (Financial PhraseBank style),
  labels positive / negative / neutral.

Sentences are built from templates with slots filled from word lists, seeded, so the data is
varied enough to learn from (entity names recombine, dev/test hold names unseen in train) and
small enough that the whole demo pipeline runs in minutes on two cores.
"""
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "data" / "demo"
rng = random.Random(20261128)

ORG_A = ["Northwind", "Contoso", "Fabrikam", "Globex", "Initech", "Umbrella", "Hooli",
         "Vandelay", "Stark", "Wayne", "Acme", "Tyrell", "Cyberdyne", "Soylent", "Aperture",
         "Oscorp", "Wonka", "Gringotts", "Monarch", "Pied Piper", "Blue Harbor", "Redwood",
         "Silver Lake", "Granite", "Evergreen", "Summit", "Atlas", "Beacon", "Crescent",
         "Keystone", "Meridian", "Pinnacle", "Sterling", "Horizon", "Lighthouse", "Orion"]
ORG_B = ["Holdings", "Bank", "Capital", "Group", "Industries", "Energy", "Motors", "Pharma",
         "Systems", "Financial", "Insurance", "Airlines", "Retail", "Mining", "Telecom", "AG",
         "PLC", "Inc.", "Corp.", "Partners"]
FIRST = ["Anna", "James", "Maria", "Wei", "Olga", "Rahul", "Fatima", "John", "Elena", "Kenji",
         "Laura", "Ahmed", "Sofia", "David", "Ingrid", "Carlos", "Mei", "Peter", "Amara", "Lukas",
         "Priya", "Tomás", "Chloé", "Jürgen", "Aisha", "Mateo", "Hannah", "Viktor", "Nadia", "Omar"]
LAST = ["Schmidt", "Chen", "Okafor", "Rossi", "Novak", "Tanaka", "Patel", "García", "Müller",
        "Johansson", "Dubois", "Kowalski", "Silva", "Nakamura", "O'Brien", "Haddad", "Larsen",
        "Moreau", "Fischer", "Kim", "Andersson", "Bianchi", "Ivanova", "Costa", "Weber"]
LOC = ["London", "Frankfurt", "New York", "Tokyo", "Singapore", "Zurich", "Paris", "Hong Kong",
       "São Paulo", "Mumbai", "Toronto", "Sydney", "Dubai", "Madrid", "Stockholm", "Seoul",
       "Chicago", "Amsterdam", "Milan", "Warsaw", "Lagos", "Jakarta", "Oslo", "Dublin",
       "Germany", "France", "Brazil", "India", "Japan", "Canada", "Mexico", "Norway"]
ROLE = ["chief executive", "chief financial officer", "chairman", "analyst", "economist",
        "spokesperson", "portfolio manager", "head of research", "strategist", "founder"]
UNIT = ["million", "billion"]
CURR = [("$", ""), ("€", ""), ("£", ""), ("", " dollars"), ("", " euros")]
VERB_UP = ["rose", "climbed", "jumped", "gained", "surged", "advanced"]
VERB_DOWN = ["fell", "dropped", "slid", "declined", "tumbled", "slipped"]


def org():
    return f"{rng.choice(ORG_A)} {rng.choice(ORG_B)}".split()


def person():
    return [rng.choice(FIRST), rng.choice(LAST)]


def money():
    sym, word = rng.choice(CURR)
    amount = f"{rng.randint(1, 950)}.{rng.randint(0, 9)}" if rng.random() < 0.5 else str(rng.randint(2, 900))
    toks = [f"{sym}{amount}", rng.choice(UNIT)]
    if word:
        toks.append(word.strip())
    return toks


def pct():
    return [f"{rng.randint(1, 40)}.{rng.randint(0, 9)}%"]


# Each template: list of pieces; str pieces are plain words (split on spaces), tuples are slots.
TEMPLATES = [
    [("ORG",), "shares", ("VUP",), ("PCT",), "in", ("LOC",), "after", "the", "company", "reported", "quarterly", "revenue", "of", ("MONEY",), "."],
    [("ORG",), "said", "on", "Tuesday", "it", "would", "acquire", ("ORG",), "for", ("MONEY",), "in", "cash", "."],
    [("PER",), ",", "the", ("ROLE",), "of", ("ORG",), ",", "told", "reporters", "in", ("LOC",), "that", "margins", "would", "improve", "."],
    [("ORG",), "cut", "its", "full-year", "forecast", "and", "its", "stock", ("VDOWN",), ("PCT",), "."],
    [("PER",), "will", "step", "down", "as", ("ROLE",), "of", ("ORG",), "at", "the", "end", "of", "the", "year", "."],
    [("ORG",), "opened", "a", "new", "office", "in", ("LOC",), "and", "plans", "to", "hire", "200", "people", "."],
    [("ORG",), "raised", ("MONEY",), "in", "a", "bond", "sale", "led", "by", ("ORG",), "."],
    ["Regulators", "in", ("LOC",), "fined", ("ORG",), ("MONEY",), "over", "reporting", "failures", "."],
    ["Analysts", "at", ("ORG",), "expect", ("ORG",), "to", "post", "a", "profit", "of", ("MONEY",), "."],
    [("PER",), "joined", ("ORG",), "from", ("ORG",), "as", ("ROLE",), "."],
    ["Inflation", "in", ("LOC",), "eased", "to", ("PCT",), ",", "according", "to", ("PER",), ",", "an", ("ROLE",), "at", ("ORG",), "."],
    [("ORG",), "and", ("ORG",), "agreed", "to", "merge", "in", "a", "deal", "valued", "at", ("MONEY",), "."],
    ["The", "central", "bank", "of", ("LOC",), "held", "rates", "steady", ",", "said", ("PER",), "."],
    [("ORG",), "reported", "a", "net", "loss", "of", ("MONEY",), "as", "sales", "in", ("LOC",), ("VDOWN",), "."],
    ["Shares", "of", ("ORG",), ("VUP",), "in", ("LOC",), "trading", "on", "Monday", "."],
    [("PER",), "sold", ("MONEY",), "worth", "of", ("ORG",), "stock", ",", "filings", "show", "."],
    ["Oil", "prices", ("VDOWN",), "while", ("ORG",), "shares", ("VUP",), "in", ("LOC",), "."],
    [("ORG",), "will", "build", "a", "plant", "near", ("LOC",), "costing", ("MONEY",), "."],
    ["Investors", "welcomed", "the", "results", "from", ("ORG",), ",", "whose", ("ROLE",), ("PER",), "promised", "more", "buybacks", "."],
    ["In", ("LOC",), ",", ("ORG",), "won", "a", "contract", "worth", ("MONEY",), "."],
    ["The", "market", "was", "quiet", "on", "Friday", "as", "traders", "waited", "for", "jobs", "data", "."],
    ["Profit", "warnings", "weighed", "on", "the", "sector", "and", "the", "index", ("VDOWN",), ("PCT",), "."],
]


def fill(template, pools):
    tokens, tags = [], []
    for piece in template:
        if isinstance(piece, str):
            for w in piece.split():
                tokens.append(w)
                tags.append("O")
            continue
        slot = piece[0]
        if slot in ("ORG", "PER", "LOC", "MONEY"):
            words = pools[slot]()
            tokens += words
            tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(words) - 1)
        else:
            words = {"PCT": pct, "ROLE": lambda: rng.choice(ROLE).split(),
                     "VUP": lambda: [rng.choice(VERB_UP)], "VDOWN": lambda: [rng.choice(VERB_DOWN)]}[slot]()
            tokens += words
            tags += ["O"] * len(words)
    return tokens, tags


def write_conll(path, sentences, per_doc=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i, (tokens, tags) in enumerate(sentences):
            if i % per_doc == 0:
                f.write("-DOCSTART- O\n\n")
            for t, g in zip(tokens, tags):
                f.write(f"{t}\t{g}\n")
            f.write("\n")


def make_ner():
    # Hold some names out of train so dev/test measure generalisation, not memorisation.
    held_orgs = set(ORG_A[-6:])
    held_last = set(LAST[-5:])
    held_loc = set(LOC[-6:])

    def pools(split):
        def pick(items, held):
            if split == "train":
                return rng.choice([x for x in items if x not in held])
            return rng.choice(items)

        return {
            "ORG": lambda: f"{pick(ORG_A, held_orgs)} {rng.choice(ORG_B)}".split(),
            "PER": lambda: [rng.choice(FIRST), pick(LAST, held_last)],
            "LOC": lambda: pick(LOC, held_loc).split(),
            "MONEY": money,
        }

    for split, n in (("train", 600), ("dev", 150), ("test", 150)):
        p = pools(split)
        sentences = [fill(rng.choice(TEMPLATES), p) for _ in range(n)]
        write_conll(ROOT / "ner" / f"{split}.conll", sentences)


POS = ["{org} beat expectations and raised its dividend",
       "{org} reported record profit and strong order growth",
       "Sales at {org} rose sharply, lifting margins to a five-year high",
       "{org} shares jumped after an upgrade from analysts",
       "The company expects operating profit to improve significantly next year",
       "{org} won a large contract that will boost revenue",
       "Net sales increased by {p} compared with the previous year",
       "Demand recovered strongly and the order book is full",
       "{org} cut costs and returned to profitability",
       "Operating profit grew by {p} thanks to higher volumes"]
NEG = ["{org} issued a profit warning and its shares fell",
       "Sales at {org} dropped by {p} due to weak demand",
       "{org} reported a net loss and suspended its dividend",
       "The company will cut {n} jobs after orders collapsed",
       "Operating profit decreased by {p} as costs rose",
       "{org} lost a key customer and lowered its outlook",
       "Regulators fined {org} over misleading disclosures",
       "Shares of {org} slumped after the chief executive resigned",
       "Margins were squeezed by higher energy prices",
       "The group swung to a loss of {m} in the quarter"]
NEU = ["{org} will publish its interim report on {d}",
       "The annual general meeting of {org} will be held in {l}",
       "{org} is headquartered in {l} and employs about {n} people",
       "The company operates factories in {l} and {l2}",
       "{org} appointed a new member to its board",
       "The agreement was signed in {l} on {d}",
       "{org} has a listing on the stock exchange in {l}",
       "The transaction is expected to close in the second quarter",
       "The figures are unaudited",
       "{org} provides software to banks and insurers"]
DAYS = ["Monday", "Tuesday", "14 March", "2 June", "30 September", "the first of July"]


def make_sentiment():
    lines = []
    for label, pool, n in (("positive", POS, 300), ("negative", NEG, 300), ("neutral", NEU, 360)):
        for _ in range(n):
            t = rng.choice(pool)
            s = t.format(org=" ".join(org()), p=pct()[0], n=rng.randint(50, 5000), m=" ".join(money()),
                         l=rng.choice(LOC), l2=rng.choice(LOC), d=rng.choice(DAYS))
            lines.append(f"{s} .@{label}")
    rng.shuffle(lines)
    out = ROOT / "sentiment" / "sentences.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    make_ner()
    make_sentiment()
    print(f"wrote {ROOT}")
