"""One construct per StackFlow component; the stacks in ``infra.stacks`` compose them."""
