"""Pieces every config shares: argument parsing and the trainer defaults."""

from typing import Any

import ml_collections

from vit_jax.data import presets
from vit_jax.data.sources import folder
from vit_jax.models import sizes


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
  """Parses a config argument like 'linformer,k=128,runlocal'.

  A bare word is either the value of the first default (the positional
  argument, e.g. the attention name) or, if it names a boolean default, sets
  it to True. `key=value` sets `key`, converted to the type of its default.

  Args:
    arg: the string after ':' in --config=file.py:arg (None if absent).
    **defaults: the accepted keys and their defaults; order matters.

  Returns:
    A locked ConfigDict of the parsed values.
  """
  result = ml_collections.ConfigDict(defaults)
  positional = next(iter(defaults), None)
  for token in filter(None, (arg or '').split(',')):
    key, eq, value = token.partition('=')
    if not eq:
      if isinstance(defaults.get(key), bool):
        key, value = key, 'True'
      else:
        key, value = positional, token
    if key not in defaults:
      raise ValueError(f'unknown config argument {key!r}; known: '
                       f'{", ".join(defaults)}')
    kind = type(defaults[key])
    if kind is bool:
      result[key] = value.lower() in ('1', 'true', 'yes')
    elif defaults[key] is None:
      result[key] = value
    else:
      result[key] = kind(value)
  result.lock()
  return result


def trainer_defaults() -> ml_collections.ConfigDict:
  """Fields of the trainer that any config may override."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  # 'train', 'predict' (images -> top classes, or one timed forward pass),
  # 'eval' (a checkpoint's metrics on eval_split) or 'benchmark'.
  config.mode = 'train'
  config.predict_batch_size = 1  # Images in the 'predict' forward pass.
  # mode='predict' on image files: a file, a folder or a glob (None: one
  # timed pass on random images); prints the top `predict_top_k` classes.
  config.predict_inputs = ml_collections.FieldReference(None, field_type=str)
  config.predict_top_k = 5
  # mode='eval': the split whose loss and accuracy are appended to the
  # workdir's metrics ('test', 'train' or any split of the dataset).
  config.eval_split = 'test'
  # Initial weights of a fresh run (docs/weights.md): None, a VT/big_vision
  # .npz file or a run's workdir (its latest checkpoint); adapted to this
  # model (head, pre_logits, position embedding, Linformer E/F). Paths
  # ('/'-joined) that fully match a regex of init_skip stay fresh.
  config.init_from = ml_collections.FieldReference(None, field_type=str)
  config.init_skip = ()
  # Bit-identical results from run to run (and so exact resumes): launch.py
  # then turns off XLA:CPU's multi-threaded Eigen matmuls, whose summation
  # order varied between processes (no measurable cost on the catsdogs step:
  # docs/results.md).
  config.deterministic = True
  # On a CPU-only host: one single-threaded XLA device per core, each batch
  # split over them (faster than one multi-threaded device; applied only with
  # the default mesh and no device count in XLA_FLAGS;
  # vit_jax/runtime/host_devices.py).
  config.cpu_device_per_core = True

  # Data (see vit_jax/data): a tfds name (vit_jax/data/presets.py; see
  # `set_dataset`), 'folder:DIR' (vit_jax/data/sources/folder.py), 'digits'
  # (embedded) or 'synthetic'.
  config.dataset = 'digits'
  config.data_dir = ml_collections.FieldReference(None, field_type=str)
  config.dataset_fallback = ml_collections.FieldReference(None, field_type=str)
  config.train_split = 'train'
  config.test_split = 'test'
  config.num_classes = 10
  config.image_size = 16
  # Preprocessing (vit_jax/data/ops/op_lists.py): examples are stored at
  # resize_size (None: image_size); op names run per batch, then RandAugment
  # (num_layers, magnitude) if set, the value range and (train) mixup.
  config.input = ml_collections.ConfigDict(dict(
      random_shift=0,
      resize_size=ml_collections.FieldReference(None, field_type=int),
      train_ops=('random_shift',),
      eval_ops=('center_crop',),
      randaugment=ml_collections.FieldReference(None, field_type=tuple),
      mixup_alpha=0.0,  # > 0: mixup with Beta(alpha, alpha) weights.
      value_range=(-1.0, 1.0),
      # Corrupt images: False raises naming the file; True replaces them by
      # the next decodable example and logs a count.
      skip_corrupt=False,
      # Folders without train/test sub-folders: test share of each class.
      folder_test_fraction=0.1,
      # Threads computing batches (and reading a split into memory); batches
      # stay in order, so the count changes speed, never the data.
      num_threads=2,
      # Batches computed ahead. Small: a batch of 128x224x224x3 float32 is
      # 77 MB (grain's default is 500).
      prefetch=4,
      # A split whose stored examples fit in this many bytes is read into
      # memory once (digits at 16x16: 0.4 MB); larger ones per batch.
      cache_max_bytes=256 * 2**20,
  ))
  # dataset='synthetic' (and dataset_fallback): examples per split, channels,
  # and the seed that picks the data set (class patterns and examples).
  config.synthetic = ml_collections.ConfigDict(
      dict(num_train=1024, num_test=256, channels=3, seed=0))

  # Devices: mesh axes and sizes (one may be -1: the rest), batches split
  # over all of them; e.g. (('data', 2), ('fsdp', -1)). Parameters and
  # optimizer state are placed by the first matching (path regex, rule):
  # 'replicate' or 'fsdp(AXIS, MIN_MB)' (vit_jax/training/sharding.py).
  config.mesh = (('data', -1),)
  config.sharding_rules = (('.*', 'replicate'),)

  config.batch_size = 128
  config.eval_batch_size = 256
  # Gradient accumulation: each step's batch is split into this many
  # micro-batches, run one after the other (memory of batch / k), each device
  # on its own rows; the gradient is their mean.
  config.grad_accum_steps = 1
  # Duration: total_steps if set, else total_epochs (of num_train examples).
  config.total_steps = ml_collections.FieldReference(None, field_type=int)
  config.total_epochs = ml_collections.FieldReference(None, field_type=float)

  config.optimizer = ml_collections.ConfigDict(dict(
      name='adamw', b1=0.9, b2=0.999, weight_decay=1e-4, momentum=0.9,
      # AdamW's first moment dtype: None (the parameters', f32) or
      # 'bfloat16'; the second moment always stays f32.
      mu_dtype=ml_collections.FieldReference(None, field_type=str)))
  config.lr = ml_collections.ConfigDict(dict(
      base=1e-3, warmup_steps=0, decay='cosine', end_factor=0.0))
  config.grad_clip_norm = 1.0
  config.label_smoothing = 0.0

  # mode='benchmark': time this step on random inputs (vit_jax/benchmarking).
  config.benchmark = ml_collections.ConfigDict(dict(kind='train', steps=5))
  # A sweep: points {'name', 'overrides'} (vit_jax/sweeps/grid.py), each run
  # in its own subprocess, killed past the memory limit or the timeout.
  config.sweep = []
  # RSS ran ~20% above XLA's plan; 24 GiB machine, other processes included.
  config.sweep_memory_limit_gb = 16.0
  config.sweep_timeout_s = 3600

  # What is learned (vit_jax/tasks): None takes the model's default task
  # (classification for the ViT).
  config.task = ml_collections.FieldReference(None, field_type=str)
  # Evaluations (vit_jax/evaluators): name -> kind, its options and how often
  # (every_steps None: eval_every_steps; every entry also runs at the end).
  # Metrics are logged as '<name>/<metric>', e.g. 'test/accuracy'.
  config.evals = ml_collections.ConfigDict({
      'test': dict(kind='task_metrics', split='test',
                   every_steps=ml_collections.FieldReference(
                       None, field_type=int)),
  })
  # The metric of the final summary line and of sweep result tables.
  config.summary_metric = 'test/accuracy'

  config.log_every_steps = 50
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 500
  config.max_to_keep = 2
  return config


def set_dataset(config: ml_collections.ConfigDict, dataset: str, *,
                image_size: bool = True) -> None:
  """Points config at `dataset`, filling what is known about it.

  A preset tfds name (vit_jax/data/presets.py) sets num_classes, the splits
  and (if `image_size`) image_size. 'folder:DIR' sets the splits to
  'train'/'test' and num_classes to DIR's number of class folders when DIR
  can be listed now (else the input pipeline reports what is wrong with it
  when the run starts). Other names only set config.dataset.

  Args:
    config: a config from `trainer_defaults`, modified in place.
    dataset: the dataset name.
    image_size: whether to take a preset's image size.
  """
  config.dataset = dataset
  preset = presets.PRESETS.get(dataset)
  if preset:
    config.num_classes = preset.num_classes
    config.train_split = preset.train_split
    config.test_split = preset.test_split
    if image_size:
      config.image_size = preset.image_size
  root = folder.root_of(dataset)
  if root is not None:
    config.train_split, config.test_split = 'train', 'test'
    try:
      config.num_classes = len(folder.class_names(root))
    except (OSError, ValueError):
      pass  # dataset_info raises the one-line error when the run starts.


def vit_model(*, patch_size: int, hidden_size: int, num_layers: int,
              num_heads: int, mlp_dim: int, attention: dict[str, Any],
              classifier: str = 'token', posemb: str = 'learn',
              dropout_rate: float = 0.0, attention_dropout_rate: float = 0.0,
              representation_size: int | None = None,
              dtype: str = 'float32',
              remat_policy: str = 'none',
              scan_layers: bool = False,
              kernels: str = 'auto') -> ml_collections.ConfigDict:
  """A `config.model` section for a ViT."""
  return ml_collections.ConfigDict(dict(
      name='vit',
      patch_size=patch_size,
      hidden_size=hidden_size,
      transformer=dict(num_layers=num_layers, num_heads=num_heads,
                       mlp_dim=mlp_dim, dropout_rate=dropout_rate,
                       attention_dropout_rate=attention_dropout_rate),
      attention=attention,
      classifier=classifier,
      posemb=posemb,
      representation_size=ml_collections.FieldReference(
          representation_size, field_type=int),
      dtype=dtype,
      # What encoder blocks keep for the backward pass: 'none' (all),
      # 'full', 'dots_saveable', ... (vit_jax/models/vit.py REMAT_POLICIES).
      remat_policy=remat_policy,
      # The blocks as one nn.scan: parameters stacked on a leading layer
      # axis (big_vision's layout), one block compiled instead of all.
      scan_layers=scan_layers,
      # Which form of the same values the layers use: 'auto' (CPU-tuned
      # custom gradients and barriers on CPU, flax's plain forms on GPU/TPU),
      # 'cpu_tuned' or 'plain' (vit_jax/models/kernel_forms.py).
      kernels=kernels,
  ))


def attention(name: str, *, image_size: int, patch_size: int, k: int = 64,
              sharing: str = 'headwise', implementation: str = 'einsum',
              classifier: str = 'token') -> dict[str, Any]:
  """A `model.attention` section; Linformer's max_length fits the image."""
  if name == 'linformer':
    return dict(name=name, k=k, sharing=sharing,
                max_length=num_tokens(image_size, patch_size, classifier))
  return dict(name=name, implementation=implementation)


def num_tokens(image_size: int, patch_size: int, classifier: str) -> int:
  """Sequence length of a ViT on square images (vit_jax/models/sizes.py)."""
  return sizes.num_tokens(image_size, patch_size, classifier)
