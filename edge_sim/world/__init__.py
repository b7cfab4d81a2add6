"""The physical world edge_sim's chips and readers measure: deterministic signals over
(virtual) time with faults on demand, all reproducible from a seed."""
