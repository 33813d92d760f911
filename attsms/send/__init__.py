"""Sending: input, the plan (addresses, batches, spill), personal texts, quiet hours, the runner."""
