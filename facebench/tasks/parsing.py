"""Face-parsing LightningModules: the parser (per-pixel cross-entropy) and Fake It's label adaptation (a small
network from a frozen parser's class probabilities to a real set's labels).

Validation sets may use other class sets than the training labels: predictions are mapped into each set's
classes through the explicit table of :mod:`facebench.parsing_classes` (class probabilities summed over
merged classes, then argmax) and scored with one confusion matrix per set at crop resolution.
``python -m facebench.eval parsing`` scores at the original image resolution instead.
"""
from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from datamodules.batches import ParsingBatch
from facebench.errors import ConfigError
from facebench.metrics.parsing import ParsingConfusion, parsing_scores
from facebench.parsing_classes import IGNORE, ClassMapping, mapping
from facebench.parsing_classes import class_set as named_class_set
from facebench.tasks.landmarks import val_set_names
from facebench.tasks.optim import adamw_cosine


def map_probs(probs: torch.Tensor, table: ClassMapping) -> torch.Tensor:
    """Class probabilities (B, S, H, W) of the source set -> (B, T, H, W) of the target set (merged add up)."""
    return torch.einsum("bshw,st->bthw", probs, table.matrix(probs.device, probs.dtype))


class _ParsingScores(pl.LightningModule):
    """Per-validation-set confusion matrices and their logging (shared by the parser and the adapter)."""

    out_classes: object  # the ClassSet predictions are made in

    def _val_tables(self) -> list[ClassMapping]:
        dm = self.trainer.datamodule if self.trainer is not None else None
        sets = list(getattr(dm, "val_class_sets", [self.out_classes.name] * len(self.val_names)))
        return [mapping(self.out_classes, s) for s in sets]

    def setup(self, stage: str) -> None:
        self.val_names = val_set_names(self.trainer)
        self.val_tables = self._val_tables()
        self.val_metrics = nn.ModuleList(self._metrics(t) for t in self.val_tables)

    def _metrics(self, table: ClassMapping) -> nn.Module:
        return ParsingConfusion(table.target.num_classes)

    def _log_scores(self, name: str, table: ClassMapping, confusion: torch.Tensor, suffix: str = "") -> dict:
        tgt = table.target
        r = parsing_scores(confusion, tgt.classes, table.shared, [tgt.index(c) for c in tgt.overall])
        self.log(f"val/{name}/mean_f1{suffix}", r["mean_f1"], prog_bar=not suffix)
        self.log(f"val/{name}/overall_f1{suffix}", r["overall_f1"])
        self.log(f"val/{name}/miou{suffix}", r["miou"])
        if not suffix:
            self.log_dict({f"val/{name}/f1_{c}": v for c, v in r["f1"].items() if v == v})
        return r


class ParsingModule(_ParsingScores):
    """Parser training: cross-entropy over labelled pixels (255 ignored), optional class weights, BiSeNet's
    auxiliary losses when the network returns them; AdamW with a cosine schedule. ``net`` builds the network
    from ``num_classes`` (a Hydra partial); ``class_set`` names the training labels' classes (from the
    DataModule). ``flip_test`` averages the probabilities of the mirrored image (left/right classes swapped)."""

    def __init__(self, net: Callable[..., nn.Module], class_set: str = "facesynthetics19", lr: float = 1e-3,
                 weight_decay: float = 1e-4, class_weights: list[float] | None = None, aux_weight: float = 0.4,
                 flip_test: bool = False):
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.classes = self.out_classes = named_class_set(class_set)
        if class_weights is not None and len(class_weights) != self.classes.num_classes:
            raise ConfigError(f"model.class_weights has {len(class_weights)} values, {self.classes.name} has "
                              f"{self.classes.num_classes} classes")
        self.net = net(num_classes=self.classes.num_classes)
        self.register_buffer("class_weight", None if class_weights is None else torch.tensor(class_weights).float(),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict_probs(x)

    def predict_probs(self, x: torch.Tensor, flip_test: bool | None = None) -> torch.Tensor:
        """Class probabilities (B, C, H, W) of crops x (B, 3, H, W) in [-1, 1], in :attr:`classes`."""
        p = self.net(x).softmax(1)
        if self.hparams.flip_test if flip_test is None else flip_test:
            pf = self.net(torch.flip(x, dims=[3])).softmax(1)
            p = (p + torch.flip(pf, dims=[3])[:, self.classes.flip_permutation()]) / 2
        return p

    def training_step(self, batch: ParsingBatch, batch_idx):
        out = self.net(batch.image)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        losses = [F.cross_entropy(o, batch.label, weight=self.class_weight, ignore_index=IGNORE) for o in outs]
        loss = losses[0] + self.hparams.aux_weight * sum(losses[1:])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {self.global_step} (a batch without any "
                                     "labelled pixel gives NaN)")
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: ParsingBatch, batch_idx, dataloader_idx: int = 0):
        probs = map_probs(self.predict_probs(batch.image), self.val_tables[dataloader_idx])
        self.val_metrics[dataloader_idx].update(probs.argmax(1), batch.label)

    def on_validation_epoch_end(self):
        for name, table, m in zip(self.val_names, self.val_tables, self.val_metrics):
            self._log_scores(name, table, m.compute())
            m.reset()

    def configure_optimizers(self):
        return adamw_cosine(self, self.hparams.lr, self.hparams.weight_decay)


class ParsingAdapterModule(_ParsingScores):
    """Label adaptation (Wood et al., "Fake It Till You Make It", 2021): ``parser`` (a trained
    :class:`ParsingModule`) stays frozen; ``adapter`` (a small UNet built from ``in_channels`` and
    ``num_classes``) maps its class probabilities on the real training split to that set's labels
    (``class_set``, from the DataModule). Validation logs both the adapted predictions (``mean_f1`` ...) and
    the parser's predictions through the explicit class table (``mean_f1_table`` ...), the comparison the
    paper reports. Where a table exists the adapter is residual on it (it starts at the table's predictions;
    our choice: trained from scratch, a small UNet first loses the small classes, measured in
    results/parsing/)."""

    def __init__(self, parser: nn.Module, adapter: Callable[..., nn.Module], class_set: str = "helen11",
                 lr: float = 1e-3, weight_decay: float = 1e-4):
        super().__init__()
        if not hasattr(parser, "predict_probs"):
            raise ConfigError("label adaptation needs a trained parser: set parser_from=<parsing checkpoint>")
        self.save_hyperparameters(ignore=["parser", "adapter"])
        self.parser = parser.eval().requires_grad_(False)
        self.source = parser.classes
        self.classes = self.out_classes = named_class_set(class_set)
        self.adapter = adapter(in_channels=self.source.num_classes, num_classes=self.classes.num_classes)
        # Residual start: the adapter's logits are added to the log-probabilities of the explicit class table
        # (when one exists) and its last layer starts at zero, so training starts from the table's predictions
        # and learns the convention's corrections instead of the whole mapping.
        try:
            self.register_buffer("table", mapping(self.source, self.classes).matrix(), persistent=False)
        except ConfigError:
            self.table = None
        last = [m for m in self.adapter.modules() if isinstance(m, nn.Conv2d)][-1]
        if self.table is not None:
            nn.init.zeros_(last.weight)
            if last.bias is not None:
                nn.init.zeros_(last.bias)

    def train(self, mode: bool = True):
        super().train(mode)
        self.parser.eval()  # frozen, batch-norm statistics included
        return self

    def adapted_logits(self, p: torch.Tensor) -> torch.Tensor:
        """Adapted class logits (B, T, H, W) of the parser's class probabilities ``p`` (B, S, H, W)."""
        out = self.adapter(p)
        if self.table is not None:
            out = out + torch.einsum("bshw,st->bthw", p, self.table.to(p.dtype)).clamp(min=1e-6).log()
        return out

    def predict_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Adapted class probabilities (B, T, H, W) of crops x, in :attr:`classes`."""
        with torch.no_grad():
            p = self.parser.predict_probs(x)
        return self.adapted_logits(p).softmax(1)

    def training_step(self, batch: ParsingBatch, batch_idx):
        with torch.no_grad():
            p = self.parser.predict_probs(batch.image)
        loss = F.cross_entropy(self.adapted_logits(p), batch.label, ignore_index=IGNORE)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def _metrics(self, table: ClassMapping) -> nn.Module:
        return nn.ModuleDict({"adapted": ParsingConfusion(table.target.num_classes),
                              "table": ParsingConfusion(table.target.num_classes)})

    def setup(self, stage: str) -> None:
        super().setup(stage)
        sets = [t.target for t in self.val_tables]
        self.parser_tables = [mapping(self.source, s) for s in sets]

    def validation_step(self, batch: ParsingBatch, batch_idx, dataloader_idx: int = 0):
        with torch.no_grad():
            p = self.parser.predict_probs(batch.image)
        adapted = map_probs(self.adapted_logits(p).softmax(1), self.val_tables[dataloader_idx])
        table = map_probs(p, self.parser_tables[dataloader_idx])
        m = self.val_metrics[dataloader_idx]
        m["adapted"].update(adapted.argmax(1), batch.label)
        m["table"].update(table.argmax(1), batch.label)

    def on_validation_epoch_end(self):
        for name, table, parser_table, m in zip(self.val_names, self.val_tables, self.parser_tables, self.val_metrics):
            self._log_scores(name, table, m["adapted"].compute())
            self._log_scores(name, parser_table, m["table"].compute(), suffix="_table")
            m["adapted"].reset()
            m["table"].reset()

    def configure_optimizers(self):
        return adamw_cosine(self, self.hparams.lr, self.hparams.weight_decay)
