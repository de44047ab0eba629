"""StackFlow deploy steps: the Lambda handlers of the deployment state machine."""
