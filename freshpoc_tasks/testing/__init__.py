"""Test helpers other stages reuse: scripted git repositories with exactly known histories."""

from freshpoc_tasks.testing.gitrepo import RepoBuilder, Signature

__all__ = ["RepoBuilder", "Signature"]
