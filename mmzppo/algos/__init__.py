"""The algorithms, each a page of the paper: GRPO core (advantage, loss) and ZPPO reformulation."""
