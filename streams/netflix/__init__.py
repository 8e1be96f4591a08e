"""Netflix titles: user URLs (urls), page fetching (fetch), page parsing (parse, reactcontext)."""
