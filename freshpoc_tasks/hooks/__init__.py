"""Hooks: the only code that talks to a server. Providers' own hooks are used where they exist."""
