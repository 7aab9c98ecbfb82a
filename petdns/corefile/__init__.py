"""The Corefile reader (`petdns serve --corefile`, `-conf`; `petdns corefile check`): pure.

`syntax` reads the Caddy-style text (server blocks, directives, nested blocks, comments, quotes,
`{$ENV}`, snippets and `import`) into tokens that know their file and line; `plugins` maps each
CoreDNS directive onto the settings keys of `petdns.settings.config_file`; `servers` puts the server
blocks together (zones, ports and `bind`, stub domains, what a missing directive means); `report`
prints what each line became. Anything petdns cannot express is an error naming file, line and
directive. May import petdns.settings only (no sockets, no event loop).
"""
