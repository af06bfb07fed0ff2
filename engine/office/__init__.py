"""The district office's work: registry, funding records, queue, notice, publication, report."""
