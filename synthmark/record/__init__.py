"""The synthmark record: models (:mod:`.models`), vocabularies (:mod:`.vocab`), parsing.

``from synthmark.record import SynthmarkRecord`` keeps working as it did when this was one
module: the models' public names are re-exported here.
"""

from __future__ import annotations

from synthmark.record.models import *  # noqa: F403 - the models module's public names
