"""Date normalisation: a date written in one of many human formats -> ISO.

"23 November 2026", "nov 23, 26", "23/11/2026", "Monday 23rd of November
2026", ... -> "2026-11-23", character by character. Dates are drawn from
FIRST_DAY..LAST_DAY (1950-2049, so that two-digit years are unambiguous:
50-99 are 19xx, 00-49 are 20xx); day-first numeric formats only (no
month-first "11/23/2026", which would make 01/02 ambiguous). Month and day
names are English and fixed here, not the locale's.

Held-out dates: a date whose splitmix64 hash of its ordinal is 0 mod
TEST_DATE_MODULUS is a test date; train draws only the other dates, test
only those, so a test date was never seen in training in any format.
Example i of a stream is a pure function of (stream seed, i).
"""

import datetime
import string

import numpy as np

from vit_jax.data import counter_hash
from vit_jax.data import token_sequences

FIRST_DAY = datetime.date(1950, 1, 1)
LAST_DAY = datetime.date(2049, 12, 31)
TEST_DATE_MODULUS = 10
CHARACTERS = string.ascii_lowercase + string.ascii_uppercase + string.digits \
    + ' ,./-'
VOCABULARY = token_sequences.SPECIAL_TOKENS + tuple(CHARACTERS)
_TOKEN = {c: i for i, c in enumerate(VOCABULARY)}

MONTHS = ('January', 'February', 'March', 'April', 'May', 'June', 'July',
          'August', 'September', 'October', 'November', 'December')
WEEKDAYS = ('Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday',
            'Saturday', 'Sunday')


def _ordinal(day: int) -> str:
  """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, ..., 31st."""
  suffix = 'th' if 10 <= day % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(
      day % 10, 'th')
  return f'{day}{suffix}'


def _formats(d: datetime.date) -> tuple[str, ...]:
  """The date in every supported format."""
  month, weekday = MONTHS[d.month - 1], WEEKDAYS[d.weekday()]
  yy = f'{d.year % 100:02d}'
  return (
      f'{d.day} {month} {d.year}',
      f'{month} {d.day}, {d.year}',
      f'{month[:3].lower()} {d.day}, {yy}',
      f'{d.day:02d}/{d.month:02d}/{d.year}',
      f'{d.day:02d}.{d.month:02d}.{d.year}',
      f'{weekday} {_ordinal(d.day)} of {month} {d.year}',
      f'{weekday[:3]}, {d.day} {month[:3]} {d.year}',
      d.isoformat(),
      f'{d.day:02d}-{month[:3]}-{d.year}',
      f'{month.upper()} {d.day} {d.year}',
      f'{d.day} {month[:3].lower()} {yy}',
      f'{weekday.lower()}, {month.lower()} {d.day}, {d.year}',
      f'{d.day}/{d.month}/{yy}',
  )


NUM_FORMATS = len(_formats(FIRST_DAY))


def dates(held_out: bool) -> np.ndarray:
  """int64 [k]: ordinals of the test dates (held_out) or of the others."""
  ordinals = np.arange(FIRST_DAY.toordinal(), LAST_DAY.toordinal() + 1)
  is_test = counter_hash.mix(ordinals.astype(np.uint64)) % np.uint64(
      TEST_DATE_MODULUS) == 0
  return ordinals[is_test == held_out]


def encode(text: str) -> np.ndarray:
  """int32 [len(text)]: the characters' tokens."""
  return np.array([_TOKEN[c] for c in text], np.int32)


def generate(seed: int, index: int, ordinals: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
  """Example `index` of stream `seed` drawn from dates `ordinals`.

  Returns:
    (source int32 [n]: the written date, target int32 [11]: ISO then EOS).
  """
  rng = np.random.default_rng([seed, index])
  d = datetime.date.fromordinal(int(ordinals[rng.integers(len(ordinals))]))
  written = _formats(d)[rng.integers(NUM_FORMATS)]
  return encode(written), token_sequences.with_eos(encode(d.isoformat()))
