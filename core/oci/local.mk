# OCI sources, registry client, fetch stage (filled in by that work)
