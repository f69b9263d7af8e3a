"""End-to-end tests across the packages: Ctrl-C in every verb, the demo, `verify` on the reference
clients, generated fault scripts against the bundled client, and the Markdown links."""
