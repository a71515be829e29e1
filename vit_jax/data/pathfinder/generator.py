"""Pathfinder images (Linsley et al. 2018; LRA's Pathfinder task), in NumPy.

Each image is S x S grey (uint8, white ink on black). It holds two long
"target" paths, `num_distractors` short distractor paths and two dots (filled
circles). A path is a run of straight dashes of `dash_length` pixels separated
by gaps of `gap_length` pixels along a smoothly turning curve: from one dash
to the next the heading turns by a uniform angle in [-max_turn, max_turn]
(the gap follows the mean of the two headings), and along a path it stays
within a range of 120 degrees. Targets have `num_dashes` dashes, distractors
`distractor_dashes`. As in the original Pathfinder the dots sit on target
ends in both classes:

  label 1: the dots are on the two ends of target A (joined by a path);
  label 0: one dot is on an end of A, the other on an end of target B.

Nothing local gives the label away:
  * the layout does not depend on the label: every image has the same paths
    (2 targets + num_distractors distractors of fixed lengths), and the label
    only decides where the second dot goes; both classes have two dots, each
    on a target end, and two target ends without a dot, so the amount of
    ink, the number of path ends and of dot-on-end junctions are equal;
  * the dot distance is the same in both classes, by construction: B starts
    on the circle around one end of A (the anchor, chosen at random) that
    passes through A's other end, so in every image the anchor has a path end
    at the same distance on A and on B. Label 1 puts the second dot on A's
    other end, label 0 on B's start; only following the paths tells which;
  * paths never cross or touch: the centre lines of different paths (gaps
    included, and at target ends a disc of dot_radius - line_width / 2, room
    for a dot) stay more than `separation` apart, which leaves wider dark
    space between two paths than between two dashes of one path, so the
    pixels determine the label (`dots_connected` checks it).

Difficulty parameters per image size (PARAMS; lengths in pixels, along the
curve; target length = dashes * dash + (dashes - 1) * gap):

  size  targets       distractors     dash  gap  width  dot     separation
        dashes (px)   count x dashes                    radius
    32   5  ( 20.5)      3 x 2         2.5  2.0    1.0   1.6    4.6
    64   9  ( 51.5)      6 x 3         3.5  2.5    1.5   2.5    4.8
   128  14  (109.0)     12 x 4         5.0  3.0    2.0   3.2    6.0

max_turn is 0.5 rad for all sizes. Generation takes about 1, 2 and 5 ms per
image (32, 64, 128) on one idle CPU core.

Determinism: image `index` of stream `seed` is a pure function of
(size, seed, index), whatever batch it is generated in: randomness comes from
a counter-based hash of (size, seed, index, round, column), not from a
sequential RNG, so images are generated many at a time (vectorised: each
round, every unfinished image grows its current path by one dash) and are
still byte-identical to generating them one by one. Labels alternate:
label = index % 2.

Rendering: dashes are rectangles dash_length x line_width (flat ends), dots
discs of dot_radius, anti-aliased by an approximate box filter; overlaps take
the maximum.

`find_dots` and `dots_connected` check generated images from their pixels
alone (threshold, erosion, flood fill); the tests use them.
"""

import dataclasses
import math

import numpy as np

from vit_jax.data import counter_hash

_U64 = np.uint64
_GOLDEN = counter_hash.GOLDEN
_mix = counter_hash.mix


@dataclasses.dataclass(frozen=True)
class Params:
  """Difficulty and drawing parameters of one image size (pixels, radians)."""
  image_size: int
  num_dashes: int  # Dashes per target path (two per image).
  num_distractors: int
  distractor_dashes: int  # Dashes per distractor path.
  dash_length: float
  gap_length: float  # Along the curve, between consecutive dashes.
  line_width: float
  dot_radius: float
  max_turn: float  # Largest heading change between consecutive dashes.
  separation: float  # Centre lines of different paths stay farther apart.
  # Verification only (find_dots / dots_connected):
  erosion_radius: float  # Erodes every dash away but not the dots.
  link_distance: float  # Joins the ink of one path across its gaps.

  @property
  def num_paths(self) -> int:
    return 2 + self.num_distractors

  def path_length(self, dashes: int | None = None) -> float:
    """Length along the curve of a path of `dashes` (default: a target)."""
    dashes = self.num_dashes if dashes is None else dashes
    return dashes * self.dash_length + (dashes - 1) * self.gap_length


PARAMS = {
    32: Params(image_size=32, num_dashes=5, num_distractors=3,
               distractor_dashes=2, dash_length=2.5, gap_length=2.0,
               line_width=1.0, dot_radius=1.6, max_turn=0.5, separation=4.6,
               erosion_radius=1.0, link_distance=3.2),
    64: Params(image_size=64, num_dashes=9, num_distractors=6,
               distractor_dashes=3, dash_length=3.5, gap_length=2.5,
               line_width=1.5, dot_radius=2.5, max_turn=0.5, separation=4.8,
               erosion_radius=1.5, link_distance=3.2),
    128: Params(image_size=128, num_dashes=14, num_distractors=12,
                distractor_dashes=4, dash_length=5.0, gap_length=3.0,
                line_width=2.0, dot_radius=3.2, max_turn=0.5, separation=6.0,
                erosion_radius=2.0, link_distance=4.05),
}
SIZES = tuple(PARAMS)

# Path growth (see _place_paths): proposals per dash, failures of one path
# before its image starts over, the widest range of headings along one path,
# the free straight run required ahead (fraction of the rest of the path),
# and points and headings tried per proposal at a path's start.
_CANDIDATES = 8
_MAX_RESTARTS = 30
_MAX_BEND = 2 * np.pi / 3
_LOOKAHEAD = 0.7
_START_TRIES = 4
_START_HEADINGS = 8
# Sample spacing of paths for the separation test (px), and of look-ahead
# runs (coarse: they only steer the growth).
_SPACING = 1.0
_RAY_SPACING = 3.0
# Pixels per chunk of images generated together (bounds memory).
_CHUNK_PIXELS = 2**22
# Grey level above which a pixel is ink for dots_connected (of 255).
_INK = 31


def labels(indices) -> np.ndarray:
  """int64 labels of examples `indices`: 1 (connected) for odd indices."""
  return np.asarray(indices, np.int64) % 2


def generate(size: int, seed: int, indices) -> tuple[np.ndarray, np.ndarray]:
  """Images and labels of examples `indices` of the stream (size, seed).

  Args:
    size: 32, 64 or 128 (a key of PARAMS).
    seed: stream seed (e.g. one per split).
    indices: int [n], example indices (>= 0), any order, repeats allowed.

  Returns:
    uint8 [n, size, size, 1] images and int64 [n] labels (= labels(indices)).
  """
  params = PARAMS[size]
  indices = _check_indices(indices)
  chunk = max(1, _CHUNK_PIXELS // size**2)
  images = np.zeros((len(indices), size, size, 1), np.uint8)
  for start in range(0, len(indices), chunk):
    scene = layout(size, seed, indices[start:start + chunk])
    images[start:start + chunk, ..., 0] = _render(params, scene['paths'],
                                                  scene['dots'])
  return images, labels(indices)


def layout(size: int, seed: int, indices) -> dict[str, np.ndarray]:
  """The geometry of examples `indices` (what `generate` draws).

  Returns:
    paths: float [n, paths, 2 * num_dashes, 2], (x, y) pixel coordinates
      (pixel centres at integers); path 0 is target A, 1 target B, the others
      distractors (of which only the first 2 * distractor_dashes vertices
      count); vertices 2j and 2j + 1 are the ends of dash j.
    dots: float [n, 2, 2], the dot centres.
    labels: int64 [n].
  """
  params = PARAMS[size]
  indices = _check_indices(indices)
  key = _mix(_mix(_U64(seed % 2**64) + _GOLDEN) ^ _U64(size))
  u = _uniforms(_mix(key ^ _U64(0xD07)), indices, np.zeros(len(indices)), 1)
  anchor = (u[:, 0] < 0.5).astype(np.int64)  # See _place_paths.
  paths = _place_paths(params, key, indices, anchor)
  ends = paths[:, 0, [0, -1]]  # [n, 2, 2]: target A's ends.
  first = ends[np.arange(len(indices)), anchor]
  # Label 1: A's other end; label 0: B's start (as far from `first`).
  second = np.where((labels(indices) == 1)[:, None],
                    ends[np.arange(len(indices)), 1 - anchor], paths[:, 1, 0])
  return {'paths': paths, 'dots': np.stack([first, second], 1),
          'labels': labels(indices)}


def _check_indices(indices) -> np.ndarray:
  indices = np.asarray(indices, np.int64).reshape(-1)
  if (indices < 0).any():
    raise ValueError('indices must be >= 0')
  return indices


# --- Randomness: a counter-based hash, so any index can be drawn alone. ---


def _uniforms(key, indices, counters, n: int) -> np.ndarray:
  """float64 [len(indices), n] in [0, 1), a function of (key, index, counter,
  column) only."""
  with np.errstate(over='ignore'):
    h = _mix(key ^ _mix(indices.astype(_U64) + _GOLDEN))
    h = _mix(h ^ (counters.astype(_U64) * _GOLDEN))
  return counter_hash.uniforms(h, n)


# --- Geometry. ---


def _disc_offsets(radius: float) -> np.ndarray:
  """int [q, 2] (x, y) offsets with x^2 + y^2 <= radius^2."""
  r = int(math.floor(radius))
  y, x = np.mgrid[-r:r + 1, -r:r + 1]
  keep = x**2 + y**2 <= radius**2 + 1e-9
  return np.stack([x[keep], y[keep]], -1)


def _unit(angle: np.ndarray) -> np.ndarray:
  """[..., 2] unit vectors (cos, sin) of angles [...]."""
  return np.stack([np.cos(angle), np.sin(angle)], -1)


def _segment(a: np.ndarray, b: np.ndarray, length: float) -> np.ndarray:
  """float [..., m, 2]: points from a to b (both included), at most
  _SPACING apart for segments up to `length` long."""
  t = np.linspace(0, 1, int(math.ceil(length / _SPACING)) + 1)
  return a[..., None, :] + t[:, None] * (b - a)[..., None, :]


def _dot_room(params: Params) -> np.ndarray:
  """float [d, 2]: offsets sampling a disc of dot_radius - line_width / 2
  (how far a dot's ink reaches beyond a line's): centre and two rings."""
  radius = params.dot_radius - params.line_width / 2
  angles = 2 * np.pi * np.arange(16) / 16
  ring = np.stack([np.cos(angles), np.sin(angles)], -1)
  return np.concatenate([[[0.0, 0.0]], radius / 2 * ring[::2], radius * ring])


def _ray(start: np.ndarray, direction: np.ndarray, length: np.ndarray,
         longest: float) -> np.ndarray:
  """float [..., m, 2]: points _RAY_SPACING apart from start along unit
  `direction` to `length` (<= longest); m depends on `longest` only."""
  t = np.linspace(0, longest, int(math.ceil(longest / _RAY_SPACING)) + 1)
  t = np.minimum(t, length[..., None])
  return start[..., None, :] + t[..., None] * direction[..., None, :]


def _reserved_points(params: Params, vertices: np.ndarray,
                     dot_room: bool) -> np.ndarray:
  """float [m, p, 2]: points <= _SPACING apart along the whole centre lines
  of paths [m, 2 * dashes, 2] (gaps included); with dot_room, also the
  `_dot_room` around both ends."""
  m = len(vertices)
  line = _segment(vertices[:, :-1], vertices[:, 1:],
                  max(params.dash_length, params.gap_length))
  parts = [line.reshape(m, line.shape[1] * line.shape[2], 2)]
  if dot_room:
    room = vertices[:, [0, -1], None] + _dot_room(params)  # [m, 2, d, 2]
    parts.append(room.reshape(m, room.shape[1] * room.shape[2], 2))
  return np.concatenate(parts, axis=1)


def _place_paths(params: Params, key, indices: np.ndarray,
                 anchor: np.ndarray) -> np.ndarray:
  """float [n, paths, 2 * num_dashes, 2]: the paths of each image.

  Paths 0 and 1 are the targets, the others distractors (only their first
  2 * distractor_dashes vertices are used). Vertices 2j and 2j + 1 of a path
  are the ends of its dash j.

  Paths are grown one dash per round, in all unfinished images at once.
  Of _CANDIDATES random proposals for the next dash, the first is taken that
  (1) lies inside the canvas less a border of 1 + line_width / 2 pixels
  (target ends, where dots go: dot_radius + 0.5), (2) stays more than
  `separation` from the finished paths (and so does the room for a dot at a
  target end, `_dot_room`), (3) keeps the path's headings within a range of
  _MAX_BEND, so it cannot curl back onto itself, and (4) has a free straight
  run ahead, of _LOOKAHEAD times the rest of the path and at least up to the
  next dash (and a dot after a target's last dash), which steers paths away
  from walls and other paths early. Each next dash turns by a uniform angle
  in [-max_turn, max_turn], the gap before it following the mean of the two
  headings. A path starts at the first free one of _START_TRIES uniform
  points, with the first of _START_HEADINGS evenly spaced headings (from a
  uniform one) whose run ahead is free; target 1 starts at a uniform point of
  the circle around target 0's `anchor` end (0: its start, 1: its end) that
  passes through target 0's other end, so that label 0's dots (that anchor
  end and target 1's start) are exactly as far apart as label 1's (target
  0's two ends). A path with no valid proposal starts over; after
  _MAX_RESTARTS such failures the whole image does.
  """
  n, size, k_paths = len(indices), params.image_size, params.num_paths
  dashes_of = np.array([params.num_dashes] * 2
                       + [params.distractor_dashes] * params.num_distractors)
  c, step = _CANDIDATES, params.dash_length + params.gap_length
  # A finished path marks the pixels within separation + sqrt(1/2) of its
  # reserved points, so a point whose nearest pixel is unmarked is more than
  # `separation` from them (up to the spacing of the points, _SPACING).
  # Offsets from a point's nearest pixel that are surely within mark_radius
  # of the point (inner), and those that may be (rim).
  mark_radius = params.separation + math.sqrt(0.5)
  inner = _disc_offsets(mark_radius - math.sqrt(0.5))  # [q, 2]
  rim = _disc_offsets(mark_radius + math.sqrt(0.5))
  rim = rim[(rim**2).sum(-1) > (mark_radius - math.sqrt(0.5))**2]  # [r, 2]
  rim_slack = (mark_radius**2 - (rim**2).sum(-1)).astype(np.float32)  # [r]
  rim_x, rim_y = rim.T.astype(np.float32)
  pad = int(math.ceil(mark_radius)) + 2
  width = size + 2 * pad
  inner_flat = inner[:, 1] * width + inner[:, 0]  # Offsets in taken.flat.
  rim_flat = rim[:, 1] * width + rim[:, 0]
  room = _dot_room(params)  # [d, 2]
  longest_reach = params.path_length() + params.dot_radius  # Look-ahead.
  distractor_reach = params.path_length(params.distractor_dashes)
  low, high = 1 + params.line_width / 2, size - 2 - params.line_width / 2
  end_low, end_high = params.dot_radius + 0.5, size - 1.5 - params.dot_radius
  # Marked pixels of finished paths, and those outside the canvas less its
  # border (padded canvas).
  border = np.ones((size + 2 * pad,) * 2, bool)
  inside = slice(pad + int(math.ceil(low)), pad + int(math.floor(high)) + 1)
  border[inside, inside] = False
  taken = np.repeat(border[None], n, axis=0)
  taken_flat = taken.reshape(-1)  # A view.
  vertices = np.zeros((n, k_paths, 2 * params.num_dashes, 2))
  path = np.zeros(n, np.int64)  # The path being grown.
  dash = np.zeros(n, np.int64)  # Its dashes so far.
  # Per dash of the current path: its heading and the lowest and highest
  # heading of the path up to it.
  headings = np.zeros((n, params.num_dashes, 3))
  restarts = np.zeros(n, np.int64)  # Failures at the current path.
  counter = np.zeros(n, np.int64)  # Rounds so far: the random stream position.
  while True:
    rows = np.flatnonzero(path < k_paths)
    if not len(rows):
      return vertices
    a = len(rows)
    u = _uniforms(key, indices[rows], counter[rows], c)  # [a, c]
    counter[rows] += 1
    n_dashes = dashes_of[path[rows]]  # [a]
    target = (path[rows] < 2)[:, None]  # [a, 1]
    first = (dash[rows] == 0)[:, None]
    last = (dash[rows] == n_dashes - 1)[:, None]
    current = headings[rows, np.maximum(dash[rows] - 1, 0)]  # [a, 3]
    # Look ahead _LOOKAHEAD times the rest of the path, and at least up to
    # the next dash (and a dot after a target's last one).
    rest = (n_dashes - 1 - dash[rows]) * step  # [a]
    reach = np.maximum(_LOOKAHEAD * rest, np.minimum(rest, step)
                       + (rest > 0) * target[:, 0] * params.dot_radius)

    def clear(points, where=rows):  # [r, c, ..., m, 2] -> [r, c, ...]
      pixels = np.clip(np.rint(points).astype(np.int64) + pad, 0,
                       width - 1)  # Outside: on the taken border.
      index = where.reshape((-1,) + (1,) * (points.ndim - 2)) * width**2
      return ~taken_flat[index + pixels[..., 1] * width + pixels[..., 0]
                        ].any(-1)

    def free_runs(r, start, direction, length, extra):
      # clear(_ray(...)) for rows r, in two groups (targets, distractors)
      # whose rays are sampled up to their own longest reach (+ extra).
      result = np.zeros(length.shape[:1] + direction.shape[1:-1], bool)
      for kind, longest in ((True, longest_reach), (False, distractor_reach)):
        k = np.flatnonzero(target[r, 0] == kind)
        result[k] = clear(_ray(start[k], direction[k], length[k],
                               longest + extra), rows[r[k]])
      return result

    # Proposals [a, c]: a turn, or at a path's start a heading (below).
    new = current[:, :1] + (2 * u - 1) * params.max_turn
    end = vertices[rows, path[rows], np.maximum(2 * dash[rows] - 1, 0)]
    end = np.broadcast_to(end[:, None], (a, c, 2))  # The last dash's end.
    begin = end + params.gap_length * _unit((new + current[:, :1]) / 2)
    # Path starts (see the docstring).
    s = np.flatnonzero(first[:, 0])
    if len(s):
      v = _uniforms(key ^ _U64(0x57A27), indices[rows[s]], counter[rows[s]],
                    2 * c * _START_TRIES).reshape(len(s), c, _START_TRIES, 2)
      points = end_low + (end_high - end_low) * v
      # Target 1 starts as far from target 0's anchor end as that is from
      # target 0's other end.
      second = np.flatnonzero(path[rows[s]] == 1)
      ends = vertices[rows[s][second], 0][:, [0, -1]]  # [t, 2, 2]
      radius = np.linalg.norm(ends[:, 0] - ends[:, 1], axis=-1)
      centre = ends[np.arange(len(second)), anchor[rows[s][second]]]
      points[second] = centre[:, None, None] + radius[:, None, None, None] * (
          _unit(2 * np.pi * v[second, ..., 0]))
      free = clear(points[..., None, :], rows[s])  # [s, c, t]
      begin[s] = np.take_along_axis(
          points, free.argmax(-1)[..., None, None], 2)[:, :, 0]
      turns = 2 * np.pi * np.arange(_START_HEADINGS) / _START_HEADINGS
      tries = 2 * np.pi * u[s, :, None] + turns  # [s, c, h]
      free_run = free_runs(s, begin[s][:, :, None], _unit(tries),
                           (params.dash_length + reach[s])[:, None, None],
                           params.dash_length)  # [s, c, h]
      new[s] = np.take_along_axis(tries, free_run.argmax(-1)[..., None],
                                  -1)[..., 0]
    lowest = np.where(first, new, np.minimum(current[:, 1:2], new))
    highest = np.where(first, new, np.maximum(current[:, 2:], new))
    stop = begin + params.dash_length * _unit(new)

    ok = (clear(_segment(begin, stop, params.dash_length))
          & free_runs(np.arange(a), stop, _unit(new), reach[:, None], 0)
          & (first | clear(_segment(end, begin, params.gap_length)))
          & (highest - lowest <= _MAX_BEND))  # [a, c]
    # Room for a dot at both ends of a target.
    for needs, points in ((first & target, begin), (last & target, stop)):
      d = np.flatnonzero(needs[:, 0])
      ok[d] &= (((points[d] >= end_low) & (points[d] <= end_high)).all(-1)
                & clear(points[d][:, :, None] + room, rows[d]))
    found = ok.any(1)
    pick = ok.argmax(1)  # The first proposal that fits.
    g = np.flatnonzero(found)
    rows_g, pick_g = rows[g], pick[g]
    vertices[rows_g, path[rows_g], 2 * dash[rows_g]] = begin[g, pick_g]
    vertices[rows_g, path[rows_g], 2 * dash[rows_g] + 1] = stop[g, pick_g]
    headings[rows_g, dash[rows_g]] = np.stack(
        [new[g, pick_g], lowest[g, pick_g], highest[g, pick_g]], -1)
    dash[rows_g] += 1
    # Finished paths reserve their surroundings.
    done = rows_g[dash[rows_g] == dashes_of[path[rows_g]]]
    for group, dashes, dot_room in (
        (done[path[done] < 2], params.num_dashes, True),
        (done[path[done] >= 2], params.distractor_dashes, False)):
      points = _reserved_points(
          params, vertices[group, path[group], :2 * dashes], dot_room)
      nearest = np.rint(points)  # [f, p, 2]
      pixels = nearest.astype(np.int64) + pad
      flat = (group[:, None] * width + pixels[..., 1]) * width + pixels[..., 0]
      taken_flat[flat[:, :, None] + inner_flat] = True
      shift = (nearest - points).astype(np.float32)  # [f, p, 2]
      # |rim + shift|^2 <= mark_radius^2, expanded (elementwise, not BLAS,
      # so that results do not depend on the batch): [f, p, r].
      dx, dy = shift[..., :1], shift[..., 1:]
      within = (2 * (dx * rim_x + dy * rim_y)
                <= rim_slack - (dx * dx + dy * dy))
      taken_flat[(flat[:, :, None] + rim_flat)[within]] = True
    path[done] += 1
    dash[done] = 0
    restarts[done] = 0
    # Stuck paths start over, images stuck too often too.
    stuck = rows[~found]
    dash[stuck] = 0
    restarts[stuck] += 1
    over = stuck[restarts[stuck] >= _MAX_RESTARTS]
    path[over] = 0
    dash[over] = 0
    restarts[over] = 0
    taken[over] = border


# --- Rendering. ---


def _paint(canvas: np.ndarray, centres: np.ndarray, half: int,
           coverage_fn) -> None:
  """Max-composites anti-aliased shapes into canvas [n, S, S] (uint8).

  centres: float [n, s, 2], one per shape; the pixels within `half`
  (Chebyshev) of a shape's rounded centre get 255 * coverage_fn(pixel centres
  [n, s, w, 2]) -> [n, s, w] in [0, 1].
  """
  n, size = canvas.shape[0], canvas.shape[1]
  y, x = np.mgrid[-half:half + 1, -half:half + 1]
  window = np.stack([x.ravel(), y.ravel()], -1)  # [w, 2]
  pixels = np.rint(centres).astype(np.int64)[:, :, None] + window
  value = np.rint(coverage_fn(pixels.astype(np.float64)) * 255
                  ).astype(np.uint8)
  inside = ((pixels >= 0) & (pixels < size)).all(-1) & (value > 0)
  image = np.broadcast_to(np.arange(n)[:, None, None], value.shape)
  flat = (image * size + pixels[..., 1]) * size + pixels[..., 0]
  np.maximum.at(canvas.reshape(-1), flat[inside], value[inside])


def _render(params: Params, vertices: np.ndarray,
            dots: np.ndarray) -> np.ndarray:
  """uint8 [n, S, S]: the dashes of all paths and the two dots.

  Coverage approximates a box filter, separably: for a dash (a rectangle
  dash_length x line_width) the product of clip(0.5 + line_width / 2 -
  |across|, 0, 1) and clip(0.5 + distance inside the nearer end, 0, 1); for a
  dot clip(0.5 + dot_radius - distance, 0, 1).
  """
  n, size = len(vertices), params.image_size
  canvas = np.zeros((n, size, size), np.uint8)
  distractor_vertices = 2 * params.distractor_dashes
  dashes = np.concatenate([  # [n, dashes, 2 ends, 2]
      vertices[:, :2].reshape(n, -1, 2, 2),
      vertices[:, 2:, :distractor_vertices].reshape(n, -1, 2, 2)], axis=1)
  starts, ends = dashes[:, :, None, 0], dashes[:, :, None, 1]  # [n, d, 1, 2]
  along = (ends - starts) / params.dash_length  # Unit vectors.

  def dash_coverage(pixels):
    offset = pixels - starts
    s = (offset * along).sum(-1)
    across = offset[..., 0] * along[..., 1] - offset[..., 1] * along[..., 0]
    return (np.clip(0.5 + params.line_width / 2 - np.abs(across), 0, 1)
            * np.clip(0.5 + np.minimum(s, params.dash_length - s), 0, 1))

  def dot_coverage(pixels):
    distance = np.linalg.norm(pixels - dots[:, :, None], axis=-1)
    return np.clip(0.5 + params.dot_radius - distance, 0, 1)

  _paint(canvas, (starts + ends)[:, :, 0] / 2,
         int(math.ceil((params.dash_length + params.line_width) / 2)) + 1,
         dash_coverage)
  _paint(canvas, dots, int(math.ceil(params.dot_radius + 0.5)) + 1,
         dot_coverage)
  return canvas


# --- Verification from pixels alone (used by the tests). ---


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
  """Binary dilation of mask [..., H, W] by a disc of `radius` (zero pad)."""
  height, width = mask.shape[-2:]
  r = int(math.floor(radius))
  padded = np.zeros(mask.shape[:-2] + (height + 2 * r, width + 2 * r), bool)
  padded[..., r:r + height, r:r + width] = mask
  out = np.zeros_like(mask)
  for dx, dy in _disc_offsets(radius):
    out |= padded[..., r + dy:r + dy + height, r + dx:r + dx + width]
  return out


def _flood(seed: np.ndarray, allowed: np.ndarray, reach: float) -> np.ndarray:
  """The pixels of `allowed` linked to `seed` by steps of length <= reach."""
  region = seed & allowed
  while True:
    grown = _dilate(region, reach) & allowed
    if (grown == region).all():
      return region
    region = grown


def find_dots(image: np.ndarray, size: int | None = None) -> np.ndarray:
  """float [d, 2] (x, y) centroids of the dots in a generated image.

  Thresholds at 50% and erodes by a disc of params.erosion_radius, which
  removes every dash (line_width < 2 * erosion_radius) but keeps the core of
  every dot (dot_radius >= erosion_radius + 0.5); each remaining 8-connected
  blob is one dot.

  Args:
    image: uint8 [S, S] or [S, S, 1].
    size: PARAMS key; default S.
  """
  image = np.asarray(image).reshape(image.shape[0], image.shape[1])
  params = PARAMS[size or image.shape[0]]
  cores = ~_dilate(~(image > 127), params.erosion_radius)  # Erosion.
  centroids = []
  while cores.any():
    seed = np.zeros_like(cores)
    seed.flat[np.flatnonzero(cores)[0]] = True
    blob = _flood(seed, cores, 1.5)
    y, x = np.nonzero(blob)
    centroids.append((x.mean(), y.mean()))
    cores &= ~blob
  return np.array(centroids, np.float64).reshape(-1, 2)


def dots_connected(image: np.ndarray, size: int | None = None) -> bool:
  """Whether the two dots of a generated image are joined by a dashed path.

  From the pixels alone: ink is grey level > _INK; two ink pixels are linked
  when their centres are at most params.link_distance apart, which bridges
  the gaps between the dashes of one path but not the dark space between two
  paths (see `separation`); the dots are joined iff a chain of links leads
  from one to the other (flood fill). Labels must agree with this.

  Raises:
    ValueError: if the image does not have exactly two dots.
  """
  image = np.asarray(image).reshape(image.shape[0], image.shape[1])
  params = PARAMS[size or image.shape[0]]
  dots = find_dots(image, params.image_size)
  if len(dots) != 2:
    raise ValueError(f'expected 2 dots, found {len(dots)}')
  (x0, y0), (x1, y1) = np.rint(dots).astype(np.int64)
  seed = np.zeros(image.shape, bool)
  seed[y0, x0] = True
  return bool(_flood(seed, image > _INK, params.link_distance)[y1, x1])
