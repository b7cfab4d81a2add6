"""The fleet dashboard: a web page over the local lake (python -m cloud.dashboard)."""
