"""StackFlowDriftCheck: the scheduled drift report of stacks, aliases and schema."""
