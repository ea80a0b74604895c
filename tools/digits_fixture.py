#!/usr/bin/env python3
"""Writes fixtures/digits/: a multinomial logistic regression on scikit-learn's bundled digits.

The encrypted-classification tests (issue 13) need a real model and real inputs without a
download and without Python at test time, so this script is run once by hand and its output
committed:

    pip install scikit-learn==1.5.2 numpy && python3 tools/digits_fixture.py

Data: `sklearn.datasets.load_digits` (1,797 8×8 images, 64 features with values 0..16, bundled
with scikit-learn), features divided by 16 so they lie in [0, 1]. Split: stratified, 25 % test,
`random_state=0` (450 test images). Model: `LogisticRegression` (multinomial, lbfgs, C = 1,
max_iter = 5000) on the training part.

Output (float32 little-endian .npy, version 1.0 headers):
- `weights.npy`: 10 × 64, row c is class c's weight vector;
- `bias.npy`: 10;
- `labels.txt`: the class names, one per line ("0" … "9");
- `test.json`: the test inputs (as the model sees them), their true labels, the float model's
  logits (w·x + b in float64 from the float32 weights) and predictions, and the accuracies.
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "digits"


def main() -> None:
    digits = load_digits()
    x = digits.data / 16.0
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    model = LogisticRegression(C=1.0, max_iter=5000)
    model.fit(x_train, y_train)
    weights = model.coef_.astype("<f4")
    bias = model.intercept_.astype("<f4")
    # The reference the encrypted labels are compared with: the float32 model, evaluated in
    # float64 on the inputs exactly as stored (multiples of 1/16, exact in any float).
    logits = x_test @ weights.astype(np.float64).T + bias.astype(np.float64)
    predictions = logits.argmax(axis=1)
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(OUT / "weights.npy", weights)
    np.save(OUT / "bias.npy", bias)
    (OUT / "labels.txt").write_text("".join(f"{c}\n" for c in model.classes_))
    fixture = {
        "source": f"scikit-learn {sklearn.__version__} load_digits, features / 16",
        "split": {"test_size": 0.25, "random_state": 0, "stratify": True},
        "model": {"kind": "LogisticRegression", "C": 1.0, "solver": "lbfgs"},
        "classes": [int(c) for c in model.classes_],
        "dimension": int(x.shape[1]),
        "accuracy_float32_model": float((predictions == y_test).mean()),
        "accuracy_sklearn": float(model.score(x_test, y_test)),
        "train_count": int(len(y_train)),
        "inputs": [[float(v) for v in row] for row in x_test],
        "labels": [int(v) for v in y_test],
        "logits": [[round(float(v), 6) for v in row] for row in logits],
        "predictions": [int(v) for v in predictions],
    }
    (OUT / "test.json").write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(
        f"{len(y_test)} test images, float accuracy {fixture['accuracy_float32_model']:.4f} "
        f"(sklearn {fixture['accuracy_sklearn']:.4f}), written to {OUT}"
    )


if __name__ == "__main__":
    main()
