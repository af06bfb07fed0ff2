"""The decision log: the hash-chained store and what it says is in effect."""
