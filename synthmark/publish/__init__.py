"""Publishing a dataset: its manifest (:mod:`.manifest`), exports to Croissant and BIDS
(:mod:`.exports`) and the human-readable card (:mod:`.card`)."""
