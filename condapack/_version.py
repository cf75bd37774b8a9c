"""The version of condapack, in one place (read by the build backend without importing)."""

__version__ = "0.1.0"
