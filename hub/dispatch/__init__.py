"""The outbox: turns locked announcements into posts at the agreed minute, exactly once, and reports back."""
