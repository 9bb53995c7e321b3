"""One package per department; each knows only its department's protocol."""
