"""StackFlowAPI: the example application StackFlow deploys (API Gateway HTTP API)."""
