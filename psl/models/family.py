"""One configurable family of localization models with attention pooling.

``tokens -> embed (one-hot | BLOSUM62 | both | learned) -> [parallel convolutions, concatenated]
-> [masked max-pool, stride = pool] -> encoder (BiLSTM | token-wise MLP) -> attention pooling
(additive | uniform) -> [+ terminal windows] -> dropout -> dense -> 10 logits``

- Terminal windows (``termini = W > 0``, off by default): the first ``W`` and the last ``W``
  kept residues, un-pooled, each through its own small convolution (kernel 5, ReLU), flattened
  position by position (so "the last three residues" stays a place, not a pattern anywhere)
  and projected to ``termini_dim`` features; both are concatenated to the attention context
  before the dense layer. PTS1 (C-terminal ``[STAGCN]-[RKH]-[LIVMAFY]``), KDEL/HDEL and signal
  or transit peptides sit there. The C-terminal window is right-aligned (its last slot is the
  last residue); a protein shorter than ``W`` fills the other slots with zeros.

- BiLSTM + additive attention is the DeepLoc-style model (Almagro Armenteros et al.,
  Bioinformatics 2017); the additive attention is Bahdanau et al. (ICLR 2015):
  ``u_i = tanh(W h_i + b)``, ``alpha = softmax_i(u_i . c)`` over the real positions of each protein.
- CNN-BiLSTM: parallel convolutions of configurable odd kernel sizes (the attention study's
  small {3, 5} and large {3, 5, 7, 11}) concatenated before the BiLSTM.
- The token-wise MLP (affine + tanh at each position, no context) is the diagnostic of
  Wiegreffe & Pinter, "Attention is not not Explanation", EMNLP 2019; it can be trained with
  uniform, its own (``trained``) or ``preset`` attention taken from another model.

Padding is masked everywhere: pads are zeroed at the input, the LSTM runs on packed sequences,
max-pool windows ignore pads, and attention is a softmax over each protein's own real positions
(never across the proteins of a batch). Attention at inference can be ablated per protein:
``learned``, ``uniform``, ``permute`` (that protein's weights shuffled over its real positions),
``random`` (seeded Gaussian logits through the softmax) or ``preset`` (given distribution).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from kb.classes import LOCATION_CLASSES
from psl.choices import ATTENTION_MODES
from psl.data import PAD, VOCAB_SIZE, feature_table
from psl.errors import ConfigError, PslError

__all__ = [
    "ATTENTION_MODES",
    "ENCODINGS",
    "ModelConfig",
    "ModelOutput",
    "LocalizationModel",
    "ModelBase",
    "masked_softmax",
    "window_sum",
]

ENCODINGS = ("onehot", "blosum62", "onehot+blosum62", "learned")
ENCODERS = ("bilstm", "cnn_bilstm", "mlp")
POOLINGS = ("additive", "uniform")


@dataclass
class ModelConfig:
    """Hyperparameters of :class:`LocalizationModel` (the ``[model]`` table of a config TOML).

    Attributes:
        encoding: input features: ``onehot``, ``blosum62``, ``onehot+blosum62`` or ``learned``.
        embed_dim: size of the learned embedding (``encoding = "learned"`` only).
        encoder: ``bilstm``, ``cnn_bilstm`` (convolutions then BiLSTM) or ``mlp`` (token-wise).
        conv_kernels: odd kernel sizes of the parallel convolutions (``cnn_bilstm``).
        conv_channels: output channels of each convolution.
        pool: max-pool window and stride after the convolutions (1 = no downsampling).
        hidden: LSTM hidden size per direction, or the MLP's width.
        lstm_layers: number of stacked BiLSTM layers.
        attention: pooling used in training, ``additive`` or ``uniform``.
        attention_dim: size of ``u_i`` in the additive attention.
        dropout: dropout before the dense layer (and between conv and LSTM).
        max_len: crop length (first/last ``max_len/2`` residues kept).
        random_logit_std: standard deviation of the logits of the ``random`` ablation.
        n_classes: number of outputs (10 DeepLoc classes).
        termini: length ``W`` of the N- and C-terminal windows seen at full resolution
            (0 = off, the shipped models).
        termini_channels: channels of each terminal window's convolution.
        termini_dim: features of each terminal window after its projection.
    """

    encoding: str = "onehot+blosum62"
    embed_dim: int = 32
    encoder: str = "cnn_bilstm"
    conv_kernels: list[int] = field(default_factory=lambda: [3, 9, 15])
    conv_channels: int = 64
    pool: int = 4
    hidden: int = 64
    lstm_layers: int = 1
    attention: str = "additive"
    attention_dim: int = 64
    dropout: float = 0.3
    max_len: int = 1000
    random_logit_std: float = 2.0
    n_classes: int = len(LOCATION_CLASSES)
    termini: int = 0
    termini_channels: int = 16
    termini_dim: int = 32

    def __post_init__(self) -> None:
        self.conv_kernels = [int(k) for k in self.conv_kernels]
        checks = [
            (self.encoding in ENCODINGS, f"encoding must be one of {ENCODINGS}"),
            (self.encoder in ENCODERS, f"encoder must be one of {ENCODERS}"),
            (self.attention in POOLINGS, f"attention must be one of {POOLINGS}"),
            (self.encoder != "cnn_bilstm" or len(self.conv_kernels) > 0,
             "cnn_bilstm needs at least one conv kernel"),
            (all(k >= 1 and k % 2 == 1 for k in self.conv_kernels),
             "conv_kernels must be odd positive integers"),
            (self.pool >= 1, "pool must be >= 1"),
            (self.hidden >= 1 and self.conv_channels >= 1 and self.embed_dim >= 1
             and self.attention_dim >= 1 and self.lstm_layers >= 1, "sizes must be >= 1"),
            (0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)"),
            (self.max_len >= 2, "max_len must be >= 2"),
            (self.random_logit_std > 0, "random_logit_std must be > 0"),
            (self.n_classes >= 2, "n_classes must be >= 2"),
            (0 <= self.termini <= self.max_len, "termini must be in 0..max_len"),
            (self.termini_channels >= 1 and self.termini_dim >= 1,
             "termini_channels and termini_dim must be >= 1"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"invalid model config: {msg} (got {self.to_dict()})")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build from a mapping, rejecting unknown keys.

        Raises:
            ValueError: unknown keys or invalid values.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown [model] keys {unknown} (known: {sorted(known)})")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON/TOML serialisable)."""
        return asdict(self)


class ModelOutput(NamedTuple):
    """What :meth:`LocalizationModel.forward` returns.

    Attributes:
        logits: ``B x n_classes``.
        attention_residue: ``B x L`` residue-level weights (sum 1 over real residues, 0 on pads);
            a pooled position's weight is spread evenly over the real residues of its window.
        attention_raw: ``B x L'`` weights over the model's (pooled) positions.
        model_mask: ``B x L'`` True on real pooled positions.
    """

    logits: torch.Tensor
    attention_residue: torch.Tensor
    attention_raw: torch.Tensor
    model_mask: torch.Tensor


def window_sum(t: torch.Tensor, p: int) -> torch.Tensor:
    """Sums of ``B x L`` values over consecutive windows of ``p`` (last window may be short)."""
    width = -(-t.shape[1] // p)
    padded = F.pad(t, (0, width * p - t.shape[1]))
    return padded.view(t.shape[0], width, p).sum(-1)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis restricted to ``mask`` (row-wise, per protein); 0 elsewhere."""
    scores = scores.masked_fill(~mask, float("-inf"))
    out = torch.softmax(scores, dim=-1)
    return torch.nan_to_num(out, nan=0.0) * mask


class ModelBase(nn.Module):
    """The forward API of :class:`LocalizationModel` and :class:`~psl.models.ModelEnsemble`.

    Subclasses implement ``embed(tokens)`` (input features) and ``_run(x, mask, attention,
    generator, preset) -> ModelOutput``.
    """

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, x: torch.Tensor, mask: torch.Tensor, attention: str,
             generator: torch.Generator | None,
             preset: torch.Tensor | None) -> ModelOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_from_embedded(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        attention: str = "learned",
        generator: torch.Generator | None = None,
        preset: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``B x n_classes`` from input features ``x`` (``B x L x F``, see :meth:`embed`).

        Differentiable with respect to ``x`` (for Integrated Gradients). On GPU, cuDNN's RNN
        backward needs train mode; use ``torch.backends.cudnn.flags(enabled=False)`` in eval.
        """
        return self._run(x, mask, attention, generator, preset).logits

    def forward(
        self,
        tokens: torch.Tensor,
        mask: torch.Tensor | None = None,
        attention: str = "learned",
        generator: torch.Generator | None = None,
        preset: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Run the model on tokens ``B x L`` (mask defaults to ``tokens != 0``).

        Arguments:
            tokens: LongTensor of residue tokens (see :mod:`psl.data`).
            mask: BoolTensor, True on real residues.
            attention: one of :data:`ATTENTION_MODES`.
            generator: seeded randomness for ``permute`` / ``random``.
            preset: residue-level weights for ``preset``.

        Returns:
            A :class:`ModelOutput`.

        Raises:
            ValueError: a bad mode, mask or preset.
        """
        if mask is None:
            mask = tokens != PAD
        return self._run(self.embed(tokens), mask, attention, generator, preset)


class LocalizationModel(ModelBase):
    """The configurable localization model (see the module docstring).

    Arguments:
        config: a :class:`ModelConfig`.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        if c.encoding == "learned":
            self.embedding: nn.Embedding | None = nn.Embedding(VOCAB_SIZE, c.embed_dim,
                                                               padding_idx=PAD)
            feat = c.embed_dim
        else:
            self.embedding = None
            parts = c.encoding.split("+")
            table = torch.cat([torch.from_numpy(feature_table(p)) for p in parts], dim=1)
            self.register_buffer("feature_table", table, persistent=False)
            feat = table.shape[1]
        self.input_dim = feat
        if c.encoder == "cnn_bilstm":
            self.convs = nn.ModuleList(
                nn.Conv1d(feat, c.conv_channels, k, padding=k // 2) for k in c.conv_kernels
            )
            feat = c.conv_channels * len(c.conv_kernels)
        else:
            self.convs = nn.ModuleList()
        self.drop = nn.Dropout(c.dropout)
        if c.encoder == "mlp":
            self.lstm: nn.LSTM | None = None
            self.mlp: nn.Linear | None = nn.Linear(feat, c.hidden)
            self.out_dim = c.hidden
        else:
            self.mlp = None
            self.lstm = nn.LSTM(feat, c.hidden, num_layers=c.lstm_layers, batch_first=True,
                                bidirectional=True)
            self.out_dim = 2 * c.hidden
        if c.attention == "additive":
            self.att_w = nn.Linear(self.out_dim, c.attention_dim)
            self.att_c = nn.Parameter(torch.randn(c.attention_dim) / math.sqrt(c.attention_dim))
        head_in = self.out_dim
        if c.termini:
            self.term_conv = nn.ModuleList(
                nn.Conv1d(self.input_dim, c.termini_channels, 5, padding=2) for _ in range(2))
            self.term_proj = nn.ModuleList(
                nn.Linear(c.termini * c.termini_channels, c.termini_dim) for _ in range(2))
            head_in += 2 * c.termini_dim
        self.dense = nn.Linear(head_in, c.n_classes)

    # ----------------------------------------------------------------- pieces

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Input features ``B x L x F`` of integer tokens ``B x L`` (pads -> zero vectors)."""
        if self.embedding is not None:
            return self.embedding(tokens)
        return F.embedding(tokens, self.feature_table)

    def terminal_windows(self, x: torch.Tensor,
                         mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The N-terminal (left-aligned) and C-terminal (right-aligned) windows ``B x W x F``.

        Slot ``j`` of the C window holds residue ``length - W + j``; slots before the first
        residue (proteins shorter than ``W``) are zero, as are pads in the N window.
        """
        w = self.config.termini
        fm = mask.unsqueeze(-1).to(x.dtype)
        if x.shape[1] < w:
            x = F.pad(x, (0, 0, 0, w - x.shape[1]))
            fm = F.pad(fm, (0, 0, 0, w - fm.shape[1]))
        n_win = (x * fm)[:, :w]
        lengths = mask.sum(1)
        idx = lengths[:, None] - w + torch.arange(w, device=x.device)[None, :]
        valid = (idx >= 0).unsqueeze(-1).to(x.dtype)
        gather = idx.clamp_min(0).unsqueeze(-1).expand(-1, -1, x.shape[2])
        c_win = torch.gather(x, 1, gather) * valid
        return n_win, c_win

    def stem(self, x: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """The model's first layer on input features ``x`` (``B x L x F``): affine in ``x``.

        Everything the model computes from ``x`` goes through these tensors: the
        pre-activations of each parallel convolution (``B x C x L``, pads zeroed after the
        ReLU in :meth:`from_stem`), or the masked features themselves when there is no
        convolution, then, with terminal windows, the pre-activations of the N- and
        C-terminal window convolutions (``B x C_t x W``). Because the map is affine,
        Integrated Gradients can integrate over the stem's output instead of ``x`` and pull
        the averaged gradient back through it once (:mod:`psl.explain.attributions`).
        """
        xm = x * mask.unsqueeze(-1).to(x.dtype)
        if len(self.convs):
            xc = xm.transpose(1, 2)
            parts = [conv(xc) for conv in self.convs]
        else:
            parts = [xm]
        if self.config.termini:
            parts += self._termini_stem(x, mask)
        return parts

    def _termini_stem(self, x: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """The terminal windows' part of :meth:`stem` (their convolutions' pre-activations)."""
        return [conv(win.transpose(1, 2)) for win, conv in
                zip(self.terminal_windows(x, mask), self.term_conv, strict=True)]

    def _termini_features(self, pre: Sequence[torch.Tensor]) -> torch.Tensor:
        """``B x 2*termini_dim`` features from the terminal windows' stem outputs."""
        feats = []
        for z, proj in zip(pre, self.term_proj, strict=True):
            h = torch.relu(z)  # B x C x W
            feats.append(torch.relu(proj(h.transpose(1, 2).flatten(1))))
        return torch.cat(feats, dim=1)

    def termini_features(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``B x 2*termini_dim`` features of the two terminal windows of input features ``x``."""
        return self._termini_features(self._termini_stem(x, mask))

    def pooled_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """``B x L'`` mask of the pooled positions that cover at least one real residue."""
        p = self.config.pool
        if p == 1:
            return mask
        lengths = mask.sum(1)
        width = -(-mask.shape[1] // p)
        plen = -(-lengths // p)
        return torch.arange(width, device=mask.device)[None, :] < plen[:, None]

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states ``B x L' x H`` and their mask from input features ``x`` (``B x L x F``)."""
        return self._encode(self.stem(x, mask), mask)

    def _encode(self, parts: Sequence[torch.Tensor],
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`encode` from the stem's outputs."""
        if len(self.convs) and self.mlp is None and bool(mask.all()):
            return self._encode_unpadded(parts, mask)
        return self._encode_padded(parts, mask)

    def _encode_padded(self, parts: Sequence[torch.Tensor],
                       mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_encode` for any batch (pads masked, sequences packed)."""
        if len(self.convs):
            x = torch.cat([torch.relu(z) for z in parts[: len(self.convs)]],
                          dim=1).transpose(1, 2)
            x = x * mask.unsqueeze(-1).to(x.dtype)
        else:
            x = parts[0]
        pmask = mask
        p = self.config.pool
        if p > 1:
            pmask = self.pooled_mask(mask)
            x = x.masked_fill(~mask.unsqueeze(-1), float("-inf"))
            x = F.max_pool1d(x.transpose(1, 2), p, p, ceil_mode=True).transpose(1, 2)
            x = x.masked_fill(~pmask.unsqueeze(-1), 0.0)
        if self.mlp is not None:
            h = torch.tanh(self.mlp(x))
        else:
            x = self.drop(x) if len(self.convs) else x
            lengths = pmask.sum(1)
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                          enforce_sorted=False)
            out, _ = self.lstm(packed)
            h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return h * pmask.unsqueeze(-1).to(h.dtype), pmask

    def _encode_unpadded(self, parts: Sequence[torch.Tensor],
                         mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_encode` of convolutional BiLSTM models for a batch without padding (one
        protein, Integrated Gradients' steps, a length bucket): the same values and gradients
        with fewer passes over the ``B x C x L`` activations. Nothing to mask or pack, and
        the max-pool runs before the ReLU (``max(relu(a), relu(b)) = relu(max(a, b))``, the
        gradient reaches the same position), on a quarter of the positions."""
        z = torch.cat(list(parts[: len(self.convs)]), dim=1)  # B x C x L
        p = self.config.pool
        if p > 1:
            z = F.max_pool1d(z, p, p, ceil_mode=True)
        x = self.drop(torch.relu(z).transpose(1, 2))
        out, _ = self.lstm(x)
        return out, self.pooled_mask(mask)

    def attention_weights(
        self,
        h: torch.Tensor,
        pmask: torch.Tensor,
        mask: torch.Tensor,
        attention: str = "learned",
        generator: torch.Generator | None = None,
        preset: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Weights ``B x L'`` over the pooled positions for an attention mode.

        Arguments:
            h, pmask: hidden states and their mask (from :meth:`encode`).
            mask: the residue mask ``B x L`` (for ``preset``).
            attention: one of :data:`ATTENTION_MODES`.
            generator: randomness of ``permute`` / ``random`` (default: a generator seeded 0).
            preset: ``B x L`` residue-level weights for ``preset`` (summed over pool windows,
                renormalised over real positions).

        Raises:
            ValueError: an unknown mode, or ``preset`` without / with a badly shaped tensor.
        """
        if attention not in ATTENTION_MODES:
            raise PslError(f"unknown attention mode {attention!r} (expected {ATTENTION_MODES})",
                           param="attention")
        fmask = pmask.to(h.dtype)
        uniform = fmask / fmask.sum(1, keepdim=True).clamp_min(1.0)
        if attention == "uniform":
            return uniform
        if attention == "preset":
            if preset is None or preset.shape != mask.shape:
                raise ValueError(
                    f"attention='preset' needs a B x L weight tensor shaped like the mask "
                    f"{tuple(mask.shape)}, got {None if preset is None else tuple(preset.shape)}"
                )
            w = preset.to(h.dtype) * mask.to(h.dtype)
            p = self.config.pool
            if p > 1:
                w = window_sum(w, p)
            w = w * fmask
            return w / w.sum(1, keepdim=True).clamp_min(1e-12)
        if generator is None and attention in ("permute", "random"):
            generator = torch.Generator().manual_seed(0)
        if attention == "random":
            z = torch.randn(h.shape[:2], generator=generator).to(h.device, h.dtype)
            return masked_softmax(z * self.config.random_logit_std, pmask)
        if self.config.attention == "additive":
            scores = torch.tanh(self.att_w(h)) @ self.att_c
            learned = masked_softmax(scores, pmask)
        else:
            learned = uniform
        if attention == "learned":
            return learned
        # permute: shuffle each protein's weights among its own real positions
        out = torch.zeros_like(learned)
        lengths = pmask.sum(1).tolist()
        for b, n in enumerate(lengths):
            perm = torch.randperm(int(n), generator=generator).to(h.device)
            out[b, :n] = learned[b, :n][perm]
        return out

    def residue_attention(self, alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Spread pooled weights ``B x L'`` evenly over the real residues of each window."""
        p = self.config.pool
        if p == 1:
            return alpha * mask.to(alpha.dtype)
        fmask = mask.to(alpha.dtype)
        counts = window_sum(fmask, p)
        per = alpha / counts.clamp_min(1.0)
        return per.repeat_interleave(p, dim=1)[:, : mask.shape[1]] * fmask

    # ----------------------------------------------------------------- forward

    def _run(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        attention: str,
        generator: torch.Generator | None,
        preset: torch.Tensor | None,
    ) -> ModelOutput:
        if mask.dtype != torch.bool or mask.shape != x.shape[:2]:
            raise ValueError(f"mask must be a bool tensor shaped {tuple(x.shape[:2])}")
        if bool((mask.sum(1) == 0).any()):
            raise PslError("every protein needs at least one real residue")
        return self.from_stem(self.stem(x, mask), mask, attention, generator, preset)

    def from_stem(
        self,
        parts: Sequence[torch.Tensor],
        mask: torch.Tensor,
        attention: str = "learned",
        generator: torch.Generator | None = None,
        preset: torch.Tensor | None = None,
    ) -> ModelOutput:
        """The model's output from its :meth:`stem` outputs (``forward`` = ``from_stem`` after
        ``stem``); differentiable with respect to ``parts``."""
        h, pmask = self._encode(parts, mask)
        alpha = self.attention_weights(h, pmask, mask, attention, generator, preset)
        context = (alpha.unsqueeze(-1) * h).sum(1)
        if self.config.termini:
            context = torch.cat([context, self._termini_features(parts[-2:])], dim=1)
        logits = self.dense(self.drop(context))
        return ModelOutput(logits, self.residue_attention(alpha, mask), alpha, pmask)
