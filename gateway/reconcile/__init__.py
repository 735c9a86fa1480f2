"""Reconciliation: where a case truly stands at its agency, whatever order, repetition or
silence the agency's updates come with. ``apply`` stores events by the agency's sequence and
derives the case state from them; pushes, pulls and polls all go through it."""
