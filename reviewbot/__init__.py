"""reviewbot: git-integrated code review and migration with verified sub-agents."""

__version__ = "0.1.0"
