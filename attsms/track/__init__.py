"""Tracking what was sent: status, history, and the one "wait until final and record" loop."""
