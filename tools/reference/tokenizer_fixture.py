"""Reference ids for FedMM's WordPiece tokenizer.

A plain-Python port of BERT's uncased tokenizer (basic tokenization: clean text, CJK split,
lower-case, strip accents, split punctuation; then greedy longest-match-first WordPiece with
max 100 chars per word), so the expected ids do not depend on FedMM's code.

Usage: python3 tokenizer_fixture.py VOCAB SENTENCES_JSON OUT_JSON [MAX_TOKENS]
Writes {"max_tokens": T, "cases": [{"text", "tokens", "ids", "input_ids", "attention_mask"}]}.
"""
import json
import sys
import unicodedata


def load_vocab(path):
    vocab = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab.setdefault(line.rstrip("\n"), i)
    return vocab


def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text):
    cleaned = []
    for c in text:
        cp = ord(c)
        if cp == 0 or cp == 0xFFFD or is_control(c):
            continue
        cleaned.append(" " if is_whitespace(c) else c)
    spaced = []
    for c in "".join(cleaned):
        if is_cjk(ord(c)):
            spaced.extend([" ", c, " "])
        else:
            spaced.append(c)
    words = []
    for token in "".join(spaced).split():
        token = unicodedata.normalize("NFD", token.lower())
        token = "".join(c for c in token if unicodedata.category(c) != "Mn")
        current = ""
        for c in token:
            if is_punctuation(c):
                if current:
                    words.append(current)
                words.append(c)
                current = ""
            else:
                current += c
        if current:
            words.append(current)
    return words


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                found = piece
                break
            end -= 1
        if found is None:
            return ["[UNK]"]
        pieces.append(found)
        start = end
    return pieces


def main():
    vocab_path, sentences_path, out_path = sys.argv[1:4]
    max_tokens = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    vocab = load_vocab(vocab_path)
    with open(sentences_path, encoding="utf-8") as f:
        sentences = json.load(f)
    cases = []
    for text in sentences:
        tokens = [p for w in basic_tokenize(text) for p in wordpiece(w, vocab)]
        ids = [vocab[t] for t in tokens]
        kept = ids[: max_tokens - 2]
        row = [vocab["[CLS]"]] + kept + [vocab["[SEP]"]]
        mask = [1] * len(row) + [0] * (max_tokens - len(row))
        row += [vocab["[PAD]"]] * (max_tokens - len(row))
        cases.append({"text": text, "tokens": tokens, "ids": ids, "input_ids": row, "attention_mask": mask})
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"max_tokens": max_tokens, "cases": cases}, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
