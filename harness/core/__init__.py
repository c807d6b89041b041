"""What everything else stands on: exit-code errors, the one registry type, the on-disk cache."""
