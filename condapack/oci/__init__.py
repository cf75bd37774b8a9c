"""OCI images: the image-spec records, layouts read from disk, the image config, a registry client."""
