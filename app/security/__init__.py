"""Who may call, how much, with what: API keys, rate limit, request limits, CORS.

`setup.install_security` wires it all into an app; `auth.require_client` is the dependency
every protected router takes.
"""
