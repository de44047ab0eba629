"""StackFlowPatcher: the Lambda that applies versioned SQL migrations."""
