"""Background services, one file each; every one finds its work in the database in batches and
is safe to run in several orchestrator processes at once."""
