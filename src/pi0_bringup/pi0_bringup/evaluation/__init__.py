"""`pi0 eval`'s parts: success statistics and tables (`stats`), GIFs (`gif`), the policy node in
its own process (`policy_process`), and the per-embodiment episode loop (`session`)."""
