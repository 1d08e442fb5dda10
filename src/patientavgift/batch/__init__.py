"""Pricing a whole register at once: rules over columns, then one scan per patient for the ceiling.

The result is the same as pricing every patient's contacts through `engine.price_contacts` (the
tests check this on random registers); only the way there differs. The package has a core that
works on Arrow tables and a thin layer of files around it:

- `core`: `price_table` (a table in, the priced table and the summary out) and `price_batches`,
  which it shares with the file layer; `codes` (cells to codes), `decisions` (the rules once per
  distinct combination of facts and validity segment), `scan` (the ceiling per patient, through
  `ceiling.ceiling_step`) and `outcomes` (the outcome columns).
- `files`: `price_register` reads a CSV or Parquet register in batches (in worker threads beside
  the pricing), writes the outputs atomically and locked (`outputs`), spills buckets of patients
  of a long register to a temporary folder, shows progress and writes the rejects file.
"""

from .core import BATCH_ROWS, Priced, price_batches, price_table
from .files import Run, peak_memory_mb, price_register, read_table

__all__ = [
    "BATCH_ROWS",
    "Priced",
    "Run",
    "peak_memory_mb",
    "price_batches",
    "price_register",
    "price_table",
    "read_table",
]
