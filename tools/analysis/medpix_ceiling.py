"""How much can pooled data help a single-modality site at all? A check of the FedMM claim's headroom.

For each image-only and text-only site of an imported MedPix client root (the folder
scripts/experiment-medpix.sh writes), fits simple classifiers on the site's own training data
("local") and on the training data of that modality pooled over every site ("pooled", the
centralized data a federation could at best learn from), and scores them on the site's
validation split. "pooled+prior" reweights the pooled model's probabilities to the site's own
training label distribution (the label-shift correction a personalised model can learn).
Image: logistic regression on frozen ImageNet MobileNetV3-small features (the experiment's
encoder, same weights, 128 px). Text: logistic regression on word uni/bigram TF-IDF.
Not part of FedMM or its tests: an analysis with scikit-learn and torchvision (Debian packages).

    /usr/bin/python3 tools/analysis/medpix_ceiling.py CLIENT_ROOT MOBILENET_FEATURES.pth
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

root, weights = sys.argv[1], sys.argv[2]
torch.set_num_threads(1)


def samples(client, split):
    with open(f"{root}/{client}/{split}/samples.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


def scores(truth, predicted):
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    f1 = []
    for c in sorted(set(truth)):  # macro-F1 over the classes present, as FedMM's metrics
        tp = np.sum((predicted == c) & (truth == c))
        precision = tp / max(1, np.sum(predicted == c))
        recall = tp / max(1, np.sum(truth == c))
        f1.append(0 if tp == 0 else 2 * precision * recall / (precision + recall))
    return 100 * np.mean(truth == predicted), 100 * np.mean(f1)


encoder = torchvision.models.mobilenet_v3_small()
state = torch.load(weights)
encoder.features.load_state_dict({k[len("features."):]: v for k, v in state.items()})
encoder.eval()
transform = torchvision.transforms.Compose([
    torchvision.transforms.Resize((128, 128)),
    torchvision.transforms.ToTensor(),
    torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])


def image_features(client, split, rows):
    batch = torch.stack([transform(Image.open(f"{root}/{client}/{split}/{r['image']}").convert("RGB")) for r in rows])
    with torch.no_grad():
        return encoder.features(batch).mean((2, 3)).numpy()


clients = sorted(c for c in os.listdir(root) if c.startswith("client_"))
data = {c: (samples(c, "train"), samples(c, "val")) for c in clients}
modalities = {c: json.load(open(f"{root}/{c}/client.json"))["modalities"] for c in clients}

results = {}
for modality in ("image", "text"):
    holders = [c for c in clients if modality in modalities[c] or modalities[c] in ("both", "image+text")]
    holders = [c for c in holders if any(modality in r for r in data[c][0])]
    train = {c: [r for r in data[c][0] if modality in r] for c in holders}
    if modality == "image":
        features = {c: image_features(c, "train", train[c]) for c in holders}
    pooled_labels = np.array([r["label"] for c in holders for r in train[c]])
    for client in [c for c in clients if modalities[c] == modality]:
        val = data[client][1]
        own_labels = np.array([r["label"] for r in train[client]])
        truth = [r["label"] for r in val]
        if modality == "image":
            val_x = image_features(client, "val", val)
            fits = {"local": (features[client], own_labels),
                    "pooled": (np.concatenate([features[c] for c in holders]), pooled_labels)}
            make = lambda x: x
        else:
            fits = {"local": ([r["text"] for r in train[client]], own_labels),
                    "pooled": ([r["text"] for c in holders for r in train[c]], pooled_labels)}
        row = {}
        for name, (x, y) in fits.items():
            if modality == "text":
                vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
                x_fit, x_val = vectorizer.fit_transform(x), vectorizer.transform([r["text"] for r in val])
            else:
                x_fit, x_val = x, val_x
            model = LogisticRegression(C=1.0, max_iter=5000).fit(x_fit, y)
            classes = list(model.classes_)
            probabilities = model.predict_proba(x_val)
            row[name] = scores(truth, [classes[i] for i in probabilities.argmax(1)])
            if name == "pooled":
                own = np.array([np.sum(own_labels == c) + 1 for c in classes], float)
                everyone = np.array([np.sum(y == c) for c in classes], float)
                adjusted = probabilities * (own / own.sum()) / (everyone / everyone.sum())
                row["pooled+prior"] = scores(truth, [classes[i] for i in adjusted.argmax(1)])
        results[client] = (modality, len(own_labels), len(truth), row)

print("| site | modality | train | val | local acc / F1 | pooled acc / F1 | pooled+prior acc / F1 |")
print("|---|---|---:|---:|---|---|---|")
for client, (modality, n_train, n_val, row) in results.items():
    cells = " | ".join(f"{row[k][0]:.1f} / {row[k][1]:.1f}" for k in ("local", "pooled", "pooled+prior"))
    print(f"| {client} | {modality} | {n_train} | {n_val} | {cells} |")
for modality in ("image", "text"):
    rows = [r for m, _, _, r in results.values() if m == modality]
    if rows:
        cells = " | ".join(f"{np.mean([r[k][0] for r in rows]):.1f} / {np.mean([r[k][1] for r in rows]):.1f}" for k in ("local", "pooled", "pooled+prior"))
        print(f"| **{modality}-only mean** | | | | {cells} |")
