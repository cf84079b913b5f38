"""Rebuild wordnet_semantic_classes.csv from Debian's wordnet-base package.

Not run by the app: the CSV is committed, this script documents exactly how it was made.
    apt-get install wordnet-base && python labeling/demo/build_wordnet_demo.py
Each row is one WordNet 3.0 noun synset: its words and gloss as the text, its lexicographer
file (a semantic class assigned by WordNet's lexicographers) as the label.
"""

import csv
import random
from pathlib import Path

WORDNET = Path("/usr/share/wordnet/data.noun")
CLASSES = {
    "05": "animal",
    "06": "artifact",
    "08": "body",
    "13": "food",
    "15": "location",
    "18": "person",
    "20": "plant",
    "27": "substance",
}
PER_CLASS = 500
SEED = 20061


def synsets():
    with WORDNET.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith(" "):  # licence header
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            offset, lex_file, word_count = fields[0], fields[1], int(fields[3], 16)
            words = [fields[4 + 2 * i].replace("_", " ") for i in range(word_count)]
            yield offset, lex_file, words, gloss.strip()


def main() -> None:
    by_class: dict[str, list] = {code: [] for code in CLASSES}
    for offset, lex_file, words, gloss in synsets():
        if lex_file in by_class and 20 <= len(gloss) <= 400:
            by_class[lex_file].append((offset, words, gloss))
    rng = random.Random(SEED)
    rows = []
    for code, label in CLASSES.items():
        for offset, words, gloss in rng.sample(by_class[code], PER_CLASS):
            rows.append({"id": f"wn30-n{offset}", "text": f"{', '.join(words[:3])}: {gloss}", "label": label})
    rng.shuffle(rows)
    out = Path(__file__).with_name("wordnet_semantic_classes.csv")
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
