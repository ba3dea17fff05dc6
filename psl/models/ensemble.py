"""An ensemble of localization models: the same architecture trained with different seeds.

The ensemble's class probabilities are the mean of its members' softmax outputs; its
``logits`` are the log of that mean (so ``softmax(logits)`` is the mean probability, and
Integrated Gradients attributes the log mean probability of the target class). Its attention
is the mean of the members' attention distributions, which is again a distribution over each
protein's real positions (sum 1, 0 on pads). Attention ablations are applied inside every
member (``permute`` shuffles each member's weights with the same generator, one after the
other; ``preset`` gives every member the same distribution).

Members must share what defines the input and the positions: the encoding (a fixed feature
table, so one input tensor serves them all for Integrated Gradients; a learned embedding is not
allowed), ``max_len`` (the same cropping), ``pool`` (the same pooled positions) and the number
of classes. Widths (``hidden``, ``conv_channels``, kernels) may differ.

An ensemble checkpoint is an ordinary checkpoint directory (see :mod:`psl.models.checkpoint`) whose
``weights.pt`` holds all members (keys ``members.<i>.*``), whose ``config.json`` lists each
member's ``[model]`` table under ``members`` and whose ``meta.json`` has ``members: N``.
:func:`psl.training.ensemble` builds one from trained member checkpoints (``psl ensemble``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from psl.errors import PslError
from psl.models.family import LocalizationModel, ModelBase, ModelConfig, ModelOutput

__all__ = ["SHARED_KEYS", "ModelEnsemble"]

#: ``[model]`` keys every member of an ensemble must share.
SHARED_KEYS = ("encoding", "max_len", "pool", "n_classes")


class ModelEnsemble(ModelBase):
    """Mean of the probabilities (and attention) of models with one shared config.

    ``forward`` and ``forward_from_embedded`` (:class:`psl.models.ModelBase`) return the log of
    the mean probability as ``logits``.

    Arguments:
        members: at least two :class:`LocalizationModel` that agree on :data:`SHARED_KEYS`.

    Raises:
        ValueError: fewer than two members, members that differ in :data:`SHARED_KEYS`, or a
            learned embedding.
    """

    def __init__(self, members: Sequence[LocalizationModel]):
        super().__init__()
        if len(members) < 2:
            raise PslError(f"an ensemble needs at least two members, got {len(members)}")
        first = members[0].config
        for i, m in enumerate(members[1:], start=1):
            diff = [k for k in SHARED_KEYS if getattr(m.config, k) != getattr(first, k)]
            if diff:
                raise PslError(f"ensemble member {i} differs from member 0 in {diff}; "
                               f"members must share {list(SHARED_KEYS)}")
        if first.encoding == "learned":
            raise PslError("ensemble members cannot use a learned embedding (no shared "
                           "input space)")
        self.members = nn.ModuleList(members)

    @property
    def config(self) -> ModelConfig:
        """Member 0's :class:`ModelConfig` (its :data:`SHARED_KEYS` hold for every member)."""
        return self.members[0].config

    @property
    def input_dim(self) -> int:
        """Size of the input features (shared)."""
        return self.members[0].input_dim

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Input features ``B x L x F`` (the fixed feature table all members share)."""
        return self.members[0].embed(tokens)

    def _run(self, x: torch.Tensor, mask: torch.Tensor, attention: str,
             generator: torch.Generator | None, preset: torch.Tensor | None) -> ModelOutput:
        if generator is None and attention in ("permute", "random"):
            generator = torch.Generator().manual_seed(0)
        outs = [m._run(x, mask, attention, generator, preset) for m in self.members]
        probs = torch.stack([torch.softmax(o.logits, dim=-1) for o in outs]).mean(0)
        logits = torch.log(probs.clamp_min(1e-30))
        k = float(len(outs))
        return ModelOutput(
            logits,
            sum(o.attention_residue for o in outs) / k,
            sum(o.attention_raw for o in outs) / k,
            outs[0].model_mask,
        )

    @property
    def n_members(self) -> int:
        """Number of members."""
        return len(self.members)


#END
