"""Hooks: authenticated, paginated, retried access to Pack and Commerce Layer."""
