"""Vision Transformer (Dosovitskiy et al. 2021) with pluggable attention.

Parameter names follow google-research/vision_transformer, so its published
weights map onto this model: `embedding`, `cls`,
`Transformer/posembed_input/pos_embedding`, `Transformer/encoderblock_{i}`,
`Transformer/encoder_norm`, `pre_logits`, `head`.
"""

import functools
from typing import Any, Callable, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax import attention
from vit_jax import config_rules
from vit_jax.models import activations
from vit_jax.models import embeddings
from vit_jax.models import kernel_forms
from vit_jax.models import layernorm
from vit_jax.models import linear
from vit_jax.models import registry
from vit_jax.models import sizes

CLASSIFIERS = ('token', 'gap')
POSEMBS = ('learn', 'sincos2d')
# Floating dtypes only: an integer dtype would train nothing.
COMPUTE_DTYPES = ('float32', 'bfloat16', 'float16')
# model.remat_policy -> what a block keeps for the backward pass (the rest is
# recomputed): 'none' keeps everything (no remat).
REMAT_POLICIES = {
    'none': None,
    'full': jax.checkpoint_policies.nothing_saveable,
    'nothing_saveable': jax.checkpoint_policies.nothing_saveable,
    'dots_saveable': jax.checkpoint_policies.dots_saveable,
    'dots_with_no_batch_dims_saveable':
        jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class MlpBlock(nn.Module):
  """Dense -> GELU -> dropout -> Dense -> dropout."""
  mlp_dim: int
  dtype: Any = jnp.float32
  dropout_rate: float = 0.0
  cpu_tuned: bool = True  # kernel_forms: CPU-tuned Dense and GELU gradients.

  @nn.compact
  def __call__(self, x: jax.Array, *, deterministic: bool) -> jax.Array:
    # linear.Dense: nn.Dense's parameters and values, faster gradient on CPU.
    dense = functools.partial(
        linear.Dense, dtype=self.dtype,
        kernel_init=nn.initializers.xavier_uniform(),
        bias_init=nn.initializers.normal(stddev=1e-6),
        cpu_tuned=self.cpu_tuned)
    gelu = activations.gelu if self.cpu_tuned else nn.gelu
    y = gelu(dense(self.mlp_dim, name='Dense_0')(x))
    y = nn.Dropout(rate=self.dropout_rate)(y, deterministic=deterministic)
    y = dense(x.shape[-1], name='Dense_1')(y)
    return nn.Dropout(rate=self.dropout_rate)(y, deterministic=deterministic)


class Encoder1DBlock(nn.Module):
  """Pre-LN block: x + Attention(LN(x)), then x + MLP(LN(x)).

  Attributes:
    make_attention: builds the attention module; given `name`.
    output_tokens: if set, only the first `output_tokens` tokens of the output
      are computed: attention still reads every token, but the residual, the
      second LayerNorm and the MLP run on those rows only.
    cpu_tuned: the CPU-tuned forms of LayerNorm and the MLP (kernel_forms).
  """
  make_attention: Callable[..., nn.Module]
  mlp_dim: int
  dtype: Any = jnp.float32
  dropout_rate: float = 0.0
  output_tokens: Optional[int] = None
  cpu_tuned: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array],
               deterministic: bool) -> jax.Array:
    assert x.ndim == 3, x.shape  # [batch, length, hidden]
    # LayerNorm computes in f32 (the default) whatever `dtype` is.
    y = layernorm.LayerNorm(cpu_tuned=self.cpu_tuned,
                            name='LayerNorm_0')(x).astype(self.dtype)
    y = self.make_attention(name='MultiHeadDotProductAttention_1')(
        y, mask, deterministic=deterministic)
    y = nn.Dropout(rate=self.dropout_rate)(y, deterministic=deterministic)
    if self.output_tokens is not None:
      x, y = x[:, :self.output_tokens], y[:, :self.output_tokens]
    x = x + y
    y = layernorm.LayerNorm(cpu_tuned=self.cpu_tuned,
                            name='LayerNorm_2')(x).astype(self.dtype)
    y = MlpBlock(mlp_dim=self.mlp_dim, dtype=self.dtype,
                 dropout_rate=self.dropout_rate, cpu_tuned=self.cpu_tuned,
                 name='MlpBlock_3')(
                     y, deterministic=deterministic)
    return x + y


class ScannedBlock(Encoder1DBlock):
  """One step of `nn.scan` over blocks: (x, None) -> (block(x), None).

  `deterministic` is an attribute (not an argument) so that the scan and its
  remat see only arrays as inputs.
  """
  deterministic: bool = True

  def __call__(self, x: jax.Array, mask: Optional[jax.Array]):
    return super().__call__(x, mask, self.deterministic), None


class Encoder(nn.Module):
  """Position embedding, `num_layers` blocks and a final LayerNorm.

  Attributes:
    attention: config of the attention variant: `name` plus its options.
    posemb: 'learn' (VT's learned table) or 'sincos2d' (fixed).
    grid: (rows, cols) of patches; needed by 'sincos2d'.
    num_prefix_tokens: tokens before the patches (the cls token) which get a
      zero sincos embedding.
    output_tokens: if set, only the first `output_tokens` output tokens are
      computed (all a cls-token classifier reads) and the output is [batch,
      output_tokens, hidden]: the last block's MLP and the final LayerNorm
      skip the other rows. Same values as slicing the full output.
    remat_policy: a key of REMAT_POLICIES: blocks recompute in the backward
      pass what the policy does not save (less memory, more FLOPs).
    scan_layers: run the blocks as one `nn.scan` (parameters stacked on a
      leading layer axis under `encoderblock`, see models/layer_layout.py):
      one block is compiled instead of `num_layers`. All rows of the last
      block are then computed; `output_tokens` only slices the result.
    kernels: 'auto', 'cpu_tuned' or 'plain': which form of the same values
      the layers use (vit_jax/models/kernel_forms.py).
  """
  num_layers: int
  mlp_dim: int
  num_heads: int
  attention: Mapping[str, Any]
  dropout_rate: float = 0.0
  attention_dropout_rate: float = 0.0
  posemb: str = 'learn'
  grid: tuple[int, int] = (0, 0)
  num_prefix_tokens: int = 0
  output_tokens: Optional[int] = None
  dtype: Any = jnp.float32
  remat_policy: str = 'none'
  scan_layers: bool = False
  kernels: str = 'auto'

  def add_position_embedding(self, x: jax.Array) -> jax.Array:
    if self.posemb == 'learn':
      return embeddings.AddPositionEmbs(name='posembed_input')(x)
    if self.posemb == 'sincos2d':
      pe = embeddings.sincos_2d(*self.grid, x.shape[-1])
      pe = jnp.pad(pe, ((self.num_prefix_tokens, 0), (0, 0)))
      return x + pe[None].astype(x.dtype)
    raise ValueError(f'unknown posemb {self.posemb!r}; known: learn, sincos2d')

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    """[batch, length, hidden] -> [batch, length, hidden]."""
    variant = attention.get(self.attention['name'])
    options = attention.options_of(self.attention)
    cpu_tuned = kernel_forms.use_cpu_tuned(self.kernels)
    if 'cpu_tuned' in variant.__dataclass_fields__:  # Variants with two forms.
      options['cpu_tuned'] = cpu_tuned
    shared = variant.make_shared(name='shared_attention', dtype=self.dtype,
                                 **options)
    make_attention = functools.partial(
        variant, num_heads=self.num_heads, dtype=self.dtype,
        dropout_rate=self.attention_dropout_rate, shared=shared, **options)

    x = self.add_position_embedding(x).astype(self.dtype)
    x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=not train)
    if shared is not None and (self.scan_layers or
                               self.remat_policy != 'none'):
      # Set the shared module up here: set up inside the first block's
      # transform (remat, scan), its parameters would be that trace's values.
      shared._try_setup()  # pylint: disable=protected-access
    block_options = dict(make_attention=make_attention, mlp_dim=self.mlp_dim,
                         dtype=self.dtype, dropout_rate=self.dropout_rate,
                         cpu_tuned=cpu_tuned)
    if self.scan_layers:
      x = self.scanned_blocks(x, mask, train, block_options)
    else:
      x = self.looped_blocks(x, mask, train, block_options)
    if self.output_tokens is not None:
      x = x[:, :self.output_tokens]  # Already so unless num_layers == 0.
    return nn.LayerNorm(name='encoder_norm')(x)

  def looped_blocks(self, x, mask, train: bool, block_options) -> jax.Array:
    """`encoderblock_0` ... `encoderblock_{num_layers-1}`, one after another."""
    block = Encoder1DBlock
    if self.remat_policy != 'none':
      # `deterministic` (argument 3, self counted) is a Python bool.
      block = nn.remat(Encoder1DBlock, policy=REMAT_POLICIES[self.remat_policy],
                       static_argnums=(3,))
    for i in range(self.num_layers):
      last = i == self.num_layers - 1
      x = block(output_tokens=self.output_tokens if last else None,
                name=f'encoderblock_{i}', **block_options)(x, mask, not train)
    return x

  def scanned_blocks(self, x, mask, train: bool, block_options) -> jax.Array:
    """One `encoderblock` scanned `num_layers` times (stacked parameters)."""
    block = ScannedBlock
    if self.remat_policy != 'none':
      block = nn.remat(ScannedBlock, policy=REMAT_POLICIES[self.remat_policy],
                       prevent_cse=False)  # The scan already prevents CSE.
    blocks = nn.scan(block, variable_axes={'params': 0},
                     split_rngs={'params': True, 'dropout': True},
                     in_axes=nn.broadcast, length=self.num_layers)
    x, _ = blocks(deterministic=not train, name='encoderblock',
                  **block_options)(x, mask)
    return x


@registry.register('vit')
class VisionTransformer(nn.Module):
  """Images [batch, H, W, C] -> logits [batch, num_classes] (float32).

  Attributes:
    num_classes: size of the zero-initialised head.
    patch_size: side of the square patches.
    hidden_size: token width.
    transformer: Encoder options (num_layers, mlp_dim, num_heads,
      dropout_rate, attention_dropout_rate).
    attention: attention config, `name` plus options (see vit_jax.attention).
    classifier: 'token' (cls token) or 'gap' (mean of the patch tokens).
    representation_size: width of the optional tanh pre-logits layer.
    posemb: 'learn' or 'sincos2d'.
    dtype: computation dtype; parameters, LayerNorms and logits stay float32.
    remat_policy: what the encoder blocks keep for the backward pass
      (REMAT_POLICIES; 'none': everything).
    scan_layers: the encoder blocks as one `nn.scan` (Encoder.scan_layers).
    kernels: which form of the same values the layers use: 'auto' (CPU-tuned
      on CPU, plain elsewhere), 'cpu_tuned', 'plain' (kernel_forms.py).
  """
  DEFAULT_TASK = 'classification'
  # Rules for `config.model` (vit_jax.config_rules), checked before any work.
  CONFIG_RULES = {
      'patch_size': config_rules.integer(low=1),
      'hidden_size': config_rules.integer(low=1),
      'transformer.num_layers': config_rules.integer(low=1),
      'transformer.num_heads': config_rules.integer(low=1),
      'transformer.mlp_dim': config_rules.integer(low=1),
      'transformer.dropout_rate': config_rules.number(low=0, high=1,
                                                      high_open=True),
      'transformer.attention_dropout_rate': config_rules.number(
          low=0, high=1, high_open=True),
      'classifier': config_rules.one_of(CLASSIFIERS),
      'posemb': config_rules.one_of(POSEMBS),
      'representation_size': config_rules.integer(low=1, optional=True),
      'dtype': config_rules.one_of(COMPUTE_DTYPES),
      'remat_policy': config_rules.one_of(tuple(REMAT_POLICIES)),
      'scan_layers': config_rules.boolean,
      'kernels': config_rules.one_of(kernel_forms.KERNELS),
  }

  num_classes: int
  patch_size: int
  hidden_size: int
  transformer: Mapping[str, Any]
  attention: Mapping[str, Any]
  classifier: str = 'token'
  representation_size: Optional[int] = None
  posemb: str = 'learn'
  dtype: Any = jnp.float32
  remat_policy: str = 'none'
  scan_layers: bool = False
  kernels: str = 'auto'

  def sequence_length(self, input_shape: tuple[int, ...]) -> int:
    """Tokens the encoder sees for one image of `input_shape` (H, W, C)."""
    return sizes.num_tokens(input_shape[:2], self.patch_size,
                            self.classifier)

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
    if self.classifier not in ('token', 'gap'):
      raise ValueError(f'unknown classifier {self.classifier!r}; known: '
                       'token, gap')
    x = embeddings.PatchEmbedding(
        self.patch_size, self.hidden_size, dtype=self.dtype,
        cpu_tuned=kernel_forms.use_cpu_tuned(self.kernels),
        name='embedding')(images)
    b, gh, gw, d = x.shape
    x = x.reshape(b, gh * gw, d)
    if self.classifier == 'token':
      cls = self.param('cls', nn.initializers.zeros, (1, 1, d))
      x = jnp.concatenate([jnp.tile(cls.astype(x.dtype), (b, 1, 1)), x], 1)

    token = self.classifier == 'token'
    x = Encoder(attention=self.attention, posemb=self.posemb, grid=(gh, gw),
                num_prefix_tokens=int(token),
                output_tokens=1 if token else None,  # Only cls is read.
                dtype=self.dtype, remat_policy=self.remat_policy,
                scan_layers=self.scan_layers, kernels=self.kernels,
                name='Transformer',
                **self.transformer)(x, train=train)

    x = x[:, 0] if self.classifier == 'token' else x.mean(axis=1)
    if self.representation_size is not None:
      x = jnp.tanh(nn.Dense(self.representation_size, name='pre_logits')(x))
    logits = nn.Dense(self.num_classes, name='head',
                      kernel_init=nn.initializers.zeros)(x)
    return logits.astype(jnp.float32)
