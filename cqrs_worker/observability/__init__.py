"""What a running worker and relay tell the people operating them: log context, metrics, traces."""
