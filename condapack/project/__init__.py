"""The project layer: ``condapack.toml`` -> plan -> ``condapack.lock`` -> incremental builds.

It reads environments and packs them through the pack pipeline (:mod:`condapack.packing`);
nothing in the pack pipeline imports it.
"""
