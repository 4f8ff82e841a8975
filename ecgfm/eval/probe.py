"""Probes on frozen embeddings: the SelfMIS linear-probe protocol and a logistic-regression variant.

:func:`linear_probe` follows the SelfMIS evaluation: a single linear layer trained on frozen
embeddings with Adam (lr 5e-4), cosine schedule, batch 64, 20 epochs, early stopping with
patience 5 on the validation macro ROC-AUC, and the test scores of the best-validation epoch.
The layer starts from zero weights (the paper does not say; see the comment in the code).
Features are standardised with the training mean/std first (a linear layer is invariant to that
in expressiveness, but Adam's fixed step size is not; documented choice, ``standardize=False``
turns it off).

:func:`logistic_cv_scores` is the scikit-learn variant: L2 logistic regression (``C`` = 0.1 by
default) with out-of-fold scores from stratified (optionally grouped) k-fold cross-validation.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ecgfm.eval.metrics import macro_auroc, one_hot

__all__ = ["ProbeResult", "linear_probe", "logistic_cv_scores", "logistic_scores"]

logger = logging.getLogger(__name__)


@dataclass
class ProbeResult:
    """Outcome of :func:`linear_probe`.

    Attributes:
        test_scores: ``(N_test, K)`` probabilities (softmax for multi-class, sigmoid for
            multi-label) of the best-validation epoch.
        best_epoch: 1-based epoch with the highest validation macro ROC-AUC.
        val_auroc: that validation score.
        history: per epoch ``(train_loss, val_auroc)``.
    """

    test_scores: np.ndarray
    best_epoch: int
    val_auroc: float
    history: list[tuple[float, float]] = field(default_factory=list)


def _as_xy(split: tuple[np.ndarray, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(split, (tuple, list)) and len(split) == 2):
        raise TypeError(f"{name} must be a pair (embeddings (N, D), labels)")
    x = np.asarray(split[0], dtype=np.float32)
    y = np.asarray(split[1])
    if x.ndim != 2:
        raise ValueError(f"{name} embeddings must be (N, D), got shape {x.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{name}: {x.shape[0]} embeddings but {y.shape[0]} labels")
    if x.shape[0] == 0:
        raise ValueError(f"{name} split is empty")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} embeddings contain NaN/Inf")
    return x, y


def linear_probe(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    num_classes: int | None = None,
    lr: float = 5e-4,
    epochs: int = 20,
    batch_size: int = 64,
    patience: int = 5,
    weight_decay: float = 0.0,
    standardize: bool = True,
    seed: int = 0,
) -> ProbeResult:
    """Train a linear layer on frozen embeddings and score the test split (SelfMIS protocol).

    Args:
        train, val, test: ``(embeddings (N, D), labels)``; labels are class indices ``(N,)``
            (multi-class, cross-entropy) or multi-hot ``(N, K)`` (multi-label, BCE).
        num_classes: K for index labels (default: max label + 1 over all splits).
        lr, epochs, batch_size, patience, weight_decay: optimisation (paper defaults).
        standardize: z-score features with training statistics.
        seed: controls initialisation and shuffling (deterministic on CPU).
    """
    (xtr, ytr), (xva, yva), (xte, yte) = (
        _as_xy(train, "train"), _as_xy(val, "val"), _as_xy(test, "test")
    )  # fmt: skip
    if not (xtr.shape[1] == xva.shape[1] == xte.shape[1]):
        raise ValueError("train/val/test embeddings have different widths")
    for name, v in (("lr", lr), ("epochs", epochs), ("batch_size", batch_size)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be positive, got {v}")
    multilabel = ytr.ndim == 2
    if multilabel:
        k = ytr.shape[1]
    else:
        k = num_classes or int(max(ytr.max(), yva.max(), yte.max())) + 1
    ytr_m, yva_m = one_hot(ytr, k), one_hot(yva, k)
    one_hot(yte, k)  # validates the test labels
    if standardize:
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        xtr, xva, xte = (xtr - mu) / sd, (xva - mu) / sd, (xte - mu) / sd

    g = torch.Generator().manual_seed(seed)
    head = nn.Linear(xtr.shape[1], k)
    # Zero init (as MAE's linear probe, which uses std 0.01): with few training rows the 20-epoch
    # schedule moves weights by ~lr * steps, so a random init would dominate what was learned.
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(xtr) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    loss_fn: nn.Module = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    xt, xv, xs = (torch.from_numpy(a) for a in (xtr, xva, xte))
    yt = torch.from_numpy(ytr_m.astype(np.float32)) if multilabel else torch.from_numpy(ytr)
    yt = yt if multilabel else yt.long()

    def probs(x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            z = head(x)
            return (torch.sigmoid(z) if multilabel else torch.softmax(z, -1)).numpy()

    best = (-1.0, 0, probs(xs))
    history: list[tuple[float, float]] = []
    bad_epochs = 0
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(xt), generator=g)
        total = 0.0
        for i in range(0, len(xt), batch_size):
            idx = perm[i : i + batch_size]
            loss = loss_fn(head(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        val = macro_auroc(yva_m, probs(xv))
        history.append((total / len(xt), val))
        if val > best[0]:
            best, bad_epochs = (val, epoch, probs(xs)), 0
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                logger.info("linear_probe: early stop after epoch %d (best %d)", epoch, best[1])
                break
    return ProbeResult(test_scores=best[2], best_epoch=best[1], val_auroc=best[0], history=history)


def _logreg(c: float, multilabel: bool, max_iter: int):  # returns an sklearn estimator
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as e:
        raise ImportError("logistic probes need scikit-learn: pip install 'ecgfm[eval]'") from e
    if not (c > 0 and math.isfinite(c)):
        raise ValueError(f"C must be positive, got {c}")
    clf = LogisticRegression(C=c, max_iter=max_iter)
    if multilabel:
        clf = OneVsRestClassifier(clf)
    return make_pipeline(StandardScaler(), clf)


def logistic_scores(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    C: float = 0.1,
    max_iter: int = 2000,
) -> np.ndarray:
    """Fit standardise + logistic regression on ``train`` and return test probabilities (N, K)."""
    (xtr, ytr), (xte, _) = _as_xy(train, "train"), _as_xy(test, "test")
    model = _logreg(C, ytr.ndim == 2, max_iter).fit(xtr, ytr)
    return np.asarray(model.predict_proba(xte))


def logistic_cv_scores(
    x: np.ndarray,
    y: np.ndarray,
    *,
    C: float = 0.1,
    folds: int = 5,
    groups: np.ndarray | None = None,
    seed: int = 0,
    max_iter: int = 2000,
    num_classes: int | None = None,
) -> np.ndarray:
    """Out-of-fold probabilities ``(N, K)`` of a logistic-regression probe.

    Multi-class labels use stratified k-fold (``StratifiedGroupKFold`` when ``groups`` is given,
    so that all rows of one patient/record stay in one fold). Multi-label labels use (group)
    k-fold. ``num_classes``: K for class-index labels (default: max label + 1); a class
    without any row gets probability 0.
    """
    x, y = _as_xy((x, y), "data")
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    multilabel = y.ndim == 2
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if multilabel:
        splitter = (
            GroupKFold(n_splits=folds)
            if groups is not None
            else KFold(n_splits=folds, shuffle=True, random_state=seed)
        )
        k = y.shape[1]
    else:
        splitter = (
            StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            if groups is not None
            else StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        )
        k = int(y.max()) + 1 if num_classes is None else int(num_classes)
        if k <= int(y.max()):
            raise ValueError(f"num_classes={num_classes} but labels go up to {int(y.max())}")
    out = np.zeros((len(x), k), dtype=np.float64)
    split_y = y if not multilabel else np.zeros(len(y))
    for tr, te in splitter.split(x, split_y, groups):
        model = _logreg(C, multilabel, max_iter).fit(x[tr], y[tr])
        proba = np.asarray(model.predict_proba(x[te]))
        classes = model[-1].classes_ if not multilabel else np.arange(k)
        out[np.ix_(te, classes)] = proba
    return out
