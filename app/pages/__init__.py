"""Public fact-check pages: server-rendered HTML, the embed card, oEmbed and the Atom feed."""
