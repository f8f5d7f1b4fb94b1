"""The domain: each operation checks, writes one transaction, then publishes after the commit."""
