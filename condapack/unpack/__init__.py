"""conda-unpack: the code that ships inside every archive and runs on users' machines.

Each module here is copied verbatim into ``conda-meta/condapack/unpack/`` of an archive
with ``conda-unpack`` (the pack pipeline imports ``rewrite``, ``safepath`` and ``quoting``
too). Run there with whatever Python the host has (3.6 or newer), so every module uses
the standard library only and imports its siblings relatively; ``unpack.sh`` is the same
program for hosts without Python.
"""
