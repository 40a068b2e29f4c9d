"""`veille demo`: bundled sample feeds served on loopback, polled, tagged and summarised."""
